/* uring_read --write BYTES: writes BYTES to stdout with IORING_OP_WRITE (no write(2)).
 * uring_read PATH...: opens each PATH through io_uring (IORING_OP_OPENAT for the first,
 * IORING_OP_OPENAT2 for the others) and reads it whole once with each of IORING_OP_READ, READV,
 * READ_FIXED and SPLICE (into a pipe it drains), then copies the first PATH's bytes to stdout.
 * The e2e test of reads that never enter read(2): each file's count must be 4 x its size. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK 65536

static struct io_uring ring;
static char buf[CHUNK];

static int complete(const char *what)
{
	struct io_uring_cqe *cqe;
	if (io_uring_submit(&ring) < 0 || io_uring_wait_cqe(&ring, &cqe) != 0) {
		fprintf(stderr, "%s: submit/wait failed\n", what);
		exit(1);
	}
	int res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0) {
		fprintf(stderr, "%s: %s\n", what, strerror(-res));
		exit(1);
	}
	return res;
}

static int open_uring(const char *path, int use_openat2)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct open_how how = {.flags = O_RDONLY}; /* read by the kernel at submit */
	if (use_openat2) {
		io_uring_prep_openat2(sqe, AT_FDCWD, path, &how);
	} else {
		io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY, 0);
	}
	return complete("open");
}

/* One whole pass over fd with `op`; returns the bytes read. */
static long pass(int fd, int op, int pipefd[2], int out)
{
	long total = 0;
	for (;;) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct iovec iov = {.iov_base = buf, .iov_len = CHUNK};
		switch (op) {
		case 0: io_uring_prep_read(sqe, fd, buf, CHUNK, total); break;
		case 1: io_uring_prep_readv(sqe, fd, &iov, 1, total); break;
		case 2: io_uring_prep_read_fixed(sqe, fd, buf, CHUNK, total, 0); break;
		default: io_uring_prep_splice(sqe, fd, total, pipefd[1], -1, CHUNK, 0); break;
		}
		int n = complete("read");
		if (n == 0)
			return total;
		if (op == 3) { /* drain what the splice put in the pipe */
			for (int left = n; left > 0;) {
				ssize_t got = read(pipefd[0], buf, left < CHUNK ? left : CHUNK);
				if (got <= 0) {
					fprintf(stderr, "pipe read failed\n");
					exit(1);
				}
				left -= got;
			}
		} else if (out >= 0 && write(out, buf, n) != n) {
			fprintf(stderr, "write: %s\n", strerror(errno));
			exit(1);
		}
		total += n;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: uring_read PATH... | uring_read --write BYTES\n");
		return 2;
	}
	int err = io_uring_queue_init(8, &ring, 0);
	if (err < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	if (!strcmp(argv[1], "--write") && argc == 3) {
		memset(buf, 'u', sizeof(buf));
		for (long left = atol(argv[2]); left > 0;) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_write(sqe, 1, buf, left < 4096 ? left : 4096, -1);
			left -= complete("write");
		}
		return 0;
	}
	struct iovec fixed = {.iov_base = buf, .iov_len = CHUNK};
	if ((err = io_uring_register_buffers(&ring, &fixed, 1)) < 0) {
		fprintf(stderr, "io_uring_register_buffers: %s\n", strerror(-err));
		return 1;
	}
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		int fd = open_uring(argv[i], i > 1);
		long sizes[4];
		for (int op = 0; op < 4; op++)
			sizes[op] = pass(fd, op, pipefd, i == 1 && op == 0 ? 1 : -1);
		for (int op = 1; op < 4; op++) {
			if (sizes[op] != sizes[0]) {
				fprintf(stderr, "pass %d read %ld bytes, pass 0 %ld\n", op, sizes[op], sizes[0]);
				return 1;
			}
		}
		close(fd);
	}
	return 0;
}
