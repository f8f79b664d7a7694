/* vfork_read PATH OUT: a child made by vfork(2) reads PATH into memory it shares with its parent,
 * then exits; the parent, which read nothing, writes what it finds there to OUT.
 *
 * A vfork child runs in its parent's address space while the parent waits (as posix_spawn's
 * child does until it execs): no syscall carries the bytes from one to the other. Exit status 0
 * when OUT holds PATH's bytes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SIZE (1 << 20)

static char buffer[MAX_SIZE];
static volatile long got = -1; /* what the child read, as its parent sees it */

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vfork_read PATH OUT\n");
		return 64;
	}
	pid_t pid = vfork();
	if (pid == 0) {
		/* Raw syscalls only: the child shares its parent's libc state too. */
		int fd = syscall(SYS_openat, AT_FDCWD, argv[1], O_RDONLY);
		if (fd >= 0) {
			got = syscall(SYS_read, fd, buffer, MAX_SIZE);
			syscall(SYS_close, fd);
		}
		syscall(SYS_exit, 0);
	}
	if (pid < 0) {
		perror("vfork_read: vfork");
		return 1;
	}
	waitpid(pid, NULL, 0);
	if (got <= 0) {
		fprintf(stderr, "vfork_read: the child read nothing\n");
		return 1;
	}
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0 || write(out, buffer, got) != got) {
		perror("vfork_read: write");
		return 1;
	}
	close(out);
	return 0;
}
