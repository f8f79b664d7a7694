/* clone_vm PATH OUT: a process and a child that share one address space, no channel between them.
 *
 * clone(CLONE_VM | SIGCHLD) makes a new process (its own pid, not a thread) that shares the
 * caller's memory. The child starts a session of its own and waits; only then does the parent
 * read PATH into a buffer of that memory; the child sees the bytes appear and writes them to OUT.
 * The child made no read of PATH and got nothing from its parent at the clone. The parent exits
 * once the child has. Exit status 0 when OUT holds PATH's bytes as the child saw them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

static volatile long ready; /* the length of what `buffer` holds, once it is whole */
static char *buffer;
static const char *out_path;

static void pause_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* The child: raw syscalls only (it shares the parent's libc state too). */
static int child(void *unused)
{
	(void)unused;
	syscall(SYS_setsid);
	for (int i = 0; i < 2000 && !__atomic_load_n(&ready, __ATOMIC_ACQUIRE); ++i)
		pause_ms(10);
	long size = __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
	if (!size)
		return 2;
	int fd = syscall(SYS_openat, AT_FDCWD, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 3;
	long done = syscall(SYS_write, fd, buffer, size);
	syscall(SYS_close, fd);
	return done == size ? 0 : 4;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: clone_vm PATH OUT\n");
		return 64;
	}
	out_path = argv[2];
	struct stat st;
	if (stat(argv[1], &st) != 0 || st.st_size <= 0) {
		perror("clone_vm: stat");
		return 1;
	}
	buffer = malloc(st.st_size);
	char *stack = malloc(STACK_SIZE);
	if (!buffer || !stack)
		return 1;
	pid_t pid = clone(child, stack + STACK_SIZE, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone_vm: clone");
		return 1;
	}
	pause_ms(300); /* the child runs before anything is read */
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0 || read(fd, buffer, st.st_size) != st.st_size) {
		perror("clone_vm: read");
		return 1;
	}
	close(fd);
	__atomic_store_n(&ready, st.st_size, __ATOMIC_RELEASE);
	int status = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "clone_vm: the child failed (status %d)\n", status);
		return 1;
	}
	return 0;
}
