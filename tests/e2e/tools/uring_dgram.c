/* uring_dgram [--send] PORT FILE: FILE's bytes as 512-byte UDP datagrams to 127.0.0.1:PORT on a
 * socket that never connects, each sent with IORING_OP_SENDMSG and its own address in the msghdr,
 * or (--send) with IORING_OP_SEND and the address in the SQE (addr2), as sendto(2) would; no
 * sendto(2) or sendmsg(2) at all. The e2e test of io_uring sends that name their destination. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DATAGRAM 512

static void die(const char* what, int err)
{
    fprintf(stderr, "uring_dgram: %s: %s\n", what, strerror(err));
    exit(1);
}

int main(int argc, char** argv)
{
    int send = argc == 4 && strcmp(argv[1], "--send") == 0;
    if (argc != 3 + send) {
        fprintf(stderr, "usage: uring_dgram [--send] PORT FILE\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1 + send]))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    int file = open(argv[2 + send], O_RDONLY);
    if (file < 0) die(argv[2 + send], errno);
    static char data[1 << 20];
    ssize_t size = read(file, data, sizeof(data));
    if (size < 0) die("read", errno);
    close(file);
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0) die("socket", errno);
    struct io_uring ring;
    int err = io_uring_queue_init(8, &ring, 0);
    if (err < 0) die("io_uring_queue_init", -err);
    for (ssize_t off = 0; off < size; off += DATAGRAM) {
        struct iovec iov = {.iov_base = data + off, .iov_len = size - off < DATAGRAM ? size - off : DATAGRAM};
        struct msghdr msg = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1};
        struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (send) {
            io_uring_prep_send(sqe, sock, iov.iov_base, iov.iov_len, 0);
            io_uring_prep_send_set_addr(sqe, (const struct sockaddr*)&to, sizeof(to));
        } else {
            io_uring_prep_sendmsg(sqe, sock, &msg, 0);
        }
        struct io_uring_cqe* cqe;
        if (io_uring_submit(&ring) < 0 || io_uring_wait_cqe(&ring, &cqe) != 0) die("submit", EIO);
        if (cqe->res != (int)iov.iov_len) die(send ? "send" : "sendmsg", cqe->res < 0 ? -cqe->res : EIO);
        io_uring_cqe_seen(&ring, cqe);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
