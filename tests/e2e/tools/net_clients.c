/* Network clients on send paths the monitor must count without a send syscall of its own or
 * with one it has no hook for, compiled by the e2e tests:
 *   net_clients uring HOST PORT BYTES        io_uring connect + sends (IORING_OP_CONNECT/SEND)
 *   net_clients sendmmsg HOST PORT COUNT SIZE  COUNT UDP datagrams of SIZE bytes, one sendmmsg
 * Prints the number of bytes sent; exits non-zero on any failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "net_clients: %s: %s\n", what, strerror(err));
	return 1;
}

static int wait_one(struct io_uring *ring, const char *what)
{
	struct io_uring_cqe *cqe;
	int err = io_uring_wait_cqe(ring, &cqe);
	if (err < 0)
		return fail(what, -err), -1;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (res < 0)
		return fail(what, -res), -1;
	return res;
}

static int uring_client(struct sockaddr_in *addr, long total)
{
	struct io_uring ring;
	int err = io_uring_queue_init(8, &ring, 0);
	if (err < 0)
		return fail("io_uring_queue_init", -err);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket", errno);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)addr, sizeof(*addr));
	io_uring_submit(&ring);
	if (wait_one(&ring, "IORING_OP_CONNECT") < 0)
		return 1;
	static char buf[65536];
	memset(buf, 'u', sizeof(buf));
	long sent = 0;
	while (sent < total) {
		size_t n = total - sent < (long)sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_send(sqe, fd, buf, n, 0);
		io_uring_submit(&ring);
		int res = wait_one(&ring, "IORING_OP_SEND");
		if (res < 0)
			return 1;
		sent += res;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	io_uring_queue_exit(&ring);
	printf("%ld\n", sent);
	return 0;
}

static int sendmmsg_client(struct sockaddr_in *addr, int count, int size)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket", errno);
	char *buf = calloc(1, size);
	struct mmsghdr *msgs = calloc(count, sizeof(*msgs));
	struct iovec *iov = calloc(count, sizeof(*iov));
	if (!buf || !msgs || !iov)
		return fail("calloc", ENOMEM);
	memset(buf, 'm', size);
	for (int i = 0; i < count; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = addr; /* unconnected: the cgroup sendmsg hook claims it */
		msgs[i].msg_hdr.msg_namelen = sizeof(*addr);
	}
	int n = sendmmsg(fd, msgs, count, 0);
	if (n != count)
		return fail("sendmmsg sent fewer datagrams", n < 0 ? errno : EIO);
	close(fd);
	printf("%ld\n", (long)count * size);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return fprintf(stderr, "usage: net_clients uring|sendmmsg HOST PORT ...\n"), 2;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
		return fail("inet_pton", EINVAL);
	if (!strcmp(argv[1], "uring"))
		return uring_client(&addr, atol(argv[4]));
	if (!strcmp(argv[1], "sendmmsg") && argc == 6)
		return sendmmsg_client(&addr, atoi(argv[4]), atoi(argv[5]));
	return fprintf(stderr, "net_clients: unknown mode %s\n", argv[1]), 2;
}
