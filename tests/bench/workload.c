/* Fixed syscall workloads for scripts/bench: each prints the median ns per operation over
 * ROUNDS rounds of N operations. Run it with and without the monitor, interleaved. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: workload open|getppid|connect|forkexec OPS ROUNDS [file]\n");
		return 2;
	}
	const char *mode = argv[1];
	long ops = atol(argv[2]);
	int rounds = atoi(argv[3]);
	void (*op)(void) = NULL;
	pid_t server = 0;
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
	for (long i = 0; i < ops / 10; i++) /* warm up */
		op();
	for (int r = 0; r < rounds; r++) {
		double start = now_ns();
		for (long i = 0; i < ops; i++)
			op();
		per_op[r] = (now_ns() - start) / ops;
	}
	qsort(per_op, rounds, sizeof(double), cmp_double);
	printf("%.1f\n", per_op[rounds / 2]);
	if (server)
		kill(server, SIGKILL);
	return 0;
}
