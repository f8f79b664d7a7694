/* Fixed syscall workloads for scripts/bench: each prints the median ns per operation over
 * ROUNDS rounds of N operations, wall clock then CPU time (this process, its reaped children and
 * the connect workload's server: BPF programs run in the context of the syscalls they hook, so
 * their cost lands here, while the load of a shared machine mostly does not). Run it with and
 * without the monitor, interleaved.
 * `workload produce RATE SECONDS` is the loss test's producer instead: RATE file-open events per
 * second (0: as fast as it can) for SECONDS, each an openat of a distinct absolute path that
 * does not exist (one ring-buffer record each, nothing left behind); prints events and rate. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static pid_t server;

/* On-CPU ns of a process's main thread (the server is single-threaded). */
static double schedstat_ns(pid_t pid)
{
	char name[64];
	double ns = 0;
	snprintf(name, sizeof(name), "/proc/%d/schedstat", (int)pid);
	FILE *f = fopen(name, "r");
	if (!f || fscanf(f, "%lf", &ns) != 1) {
		perror(name);
		exit(1);
	}
	fclose(f);
	return ns;
}

static double cpu_ns(void)
{
	struct timespec ts;
	struct rusage children;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	getrusage(RUSAGE_CHILDREN, &children);
	double ns = ts.tv_sec * 1e9 + ts.tv_nsec;
	ns += (children.ru_utime.tv_sec + children.ru_stime.tv_sec) * 1e9 +
	      (children.ru_utime.tv_usec + children.ru_stime.tv_usec) * 1e3;
	return server ? ns + schedstat_ns(server) : ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static char path[4096] = "/tmp/exfilwatch-bench-file";
static int port;

static void op_open(void)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) < 0) {
		perror("open/read");
		exit(1);
	}
	close(fd);
}

static void op_getppid(void)
{
	syscall(SYS_getppid);
}

static void op_connect(void)
{
	static char buf[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("connect");
		exit(1);
	}
	for (int i = 0; i < 4; i++)
		if (send(fd, buf, sizeof(buf), 0) < 0) {
			perror("send");
			exit(1);
		}
	close(fd);
}

static void op_forkexec(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
}

/* A sink that accepts and reads until EOF, in a child process. */
static pid_t start_server(void)
{
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {.sin_family = AF_INET};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 512) ||
	    getsockname(listener, (struct sockaddr *)&addr, &len)) {
		perror("server");
		exit(1);
	}
	port = ntohs(addr.sin_port);
	pid_t pid = fork();
	if (pid == 0) {
		static char buf[65536];
		for (;;) {
			int c = accept(listener, NULL, NULL);
			if (c < 0)
				continue;
			while (read(c, buf, sizeof(buf)) > 0)
				;
			close(c);
		}
	}
	close(listener);
	return pid;
}

/* Paced in 1 ms slots against the clock, so a slow slot is caught up in the next ones. */
static int produce(double rate, double seconds)
{
	char name[128];
	long events = 0;
	double start = now_ns(), end = start + seconds * 1e9, now = start;
	while ((now = now_ns()) < end) {
		long due = rate > 0 ? (long)((now - start) / 1e9 * rate) + 1 : events + 1000;
		if (events >= due) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
			continue;
		}
		for (; events < due; events++) {
			snprintf(name, sizeof(name), "/tmp/exfilwatch-bench-absent/%ld", events);
			if (open(name, O_RDONLY) >= 0) {
				fprintf(stderr, "produce: %s exists\n", name);
				return 1;
			}
		}
	}
	printf("%ld %.0f\n", events, events / ((now - start) / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: workload open|getppid|connect|forkexec OPS ROUNDS [file]\n"
				"       workload produce RATE SECONDS\n");
		return 2;
	}
	const char *mode = argv[1];
	if (!strcmp(mode, "produce"))
		return produce(atof(argv[2]), atof(argv[3]));
	long ops = atol(argv[2]);
	int rounds = atoi(argv[3]);
	void (*op)(void) = NULL;
	if (!strcmp(mode, "open")) {
		op = op_open;
		if (argc > 4)
			snprintf(path, sizeof(path), "%s", argv[4]);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char buf[4096] = {1};
		if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
			return perror("bench file"), 1;
		close(fd);
	} else if (!strcmp(mode, "getppid")) {
		op = op_getppid;
	} else if (!strcmp(mode, "connect")) {
		op = op_connect;
		server = start_server();
	} else if (!strcmp(mode, "forkexec")) {
		op = op_forkexec;
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	double *per_op = calloc(rounds, sizeof(double));
	double *cpu_per_op = calloc(rounds, sizeof(double));
	for (long i = 0; i < ops / 10; i++) /* warm up */
		op();
	for (int r = 0; r < rounds; r++) {
		double start = now_ns(), cpu_start = cpu_ns();
		for (long i = 0; i < ops; i++)
			op();
		per_op[r] = (now_ns() - start) / ops;
		cpu_per_op[r] = (cpu_ns() - cpu_start) / ops;
	}
	qsort(per_op, rounds, sizeof(double), cmp_double);
	qsort(cpu_per_op, rounds, sizeof(double), cmp_double);
	printf("%.1f %.1f\n", per_op[rounds / 2], cpu_per_op[rounds / 2]);
	if (server)
		kill(server, SIGKILL);
	return 0;
}
