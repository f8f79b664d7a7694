/* uring_fixed PORT HOST PATH1 PATH2: io_uring fixed files and direct descriptors, then a
 * zero-copy send of what was read. PATH1 is opened with IORING_OP_OPENAT into a fixed-file slot
 * (no fd is ever installed); PATH2 is opened with open(2), registered with
 * IORING_REGISTER_FILES (a files update into slot 1) and its fd closed. Each is read whole once
 * with IORING_OP_READ on the fixed file (IOSQE_FIXED_FILE), once with READ_FIXED on the fixed
 * file and a registered buffer, and once with SPLICE from the fixed file (SPLICE_F_FD_IN_FIXED)
 * into a pipe it drains. Then both files' bytes go as the body of an HTTP POST to 127.0.0.1:PORT
 * (Host: HOST), sent with IORING_OP_SEND_ZC. The e2e test of fixed files: each file's count must
 * be 3 x its size, and the send is the upload that follows. */
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

#define CHUNK 65536
#define BODY_MAX (1 << 20)

static struct io_uring ring;
static char buf[CHUNK];
static char body[BODY_MAX];
static char request[BODY_MAX + 512];

static void die(const char* what, int err)
{
    fprintf(stderr, "%s: %s\n", what, strerror(err));
    exit(1);
}

/* Submits what is queued and waits for one CQE; returns its result. */
static int complete(const char* what, unsigned* flags)
{
    struct io_uring_cqe* cqe;
    if (io_uring_submit(&ring) < 0 || io_uring_wait_cqe(&ring, &cqe) != 0) die(what, EIO);
    int res = cqe->res;
    if (flags) *flags = cqe->flags;
    io_uring_cqe_seen(&ring, cqe);
    if (res < 0) die(what, -res);
    return res;
}

/* One whole pass over fixed slot `slot` with `op`; returns the bytes read (appended to body at
 * `kept` when `kept` is not NULL). */
static long pass(int slot, int op, int pipefd[2], long* kept)
{
    long total = 0;
    for (;;) {
        struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        switch (op) {
        case 0: io_uring_prep_read(sqe, slot, buf, CHUNK, total); break;
        case 1: io_uring_prep_read_fixed(sqe, slot, buf, CHUNK, total, 0); break;
        default: io_uring_prep_splice(sqe, slot, total, pipefd[1], -1, CHUNK, SPLICE_F_FD_IN_FIXED); break;
        }
        if (op != 2) sqe->flags |= IOSQE_FIXED_FILE; /* splice names its fixed input by its own flag */
        int n = complete("read", NULL);
        if (n == 0) return total;
        if (op == 2) {
            for (int left = n; left > 0;) {
                ssize_t got = read(pipefd[0], buf, left < CHUNK ? left : CHUNK);
                if (got <= 0) die("pipe read", errno);
                left -= got;
            }
        } else if (kept) {
            if (*kept + n > BODY_MAX) die("body", EFBIG);
            memcpy(body + *kept, buf, n);
            *kept += n;
        }
        total += n;
    }
}

int main(int argc, char** argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: uring_fixed PORT HOST PATH1 PATH2\n");
        return 2;
    }
    int err = io_uring_queue_init(8, &ring, 0);
    if (err < 0) die("io_uring_queue_init", -err);
    if ((err = io_uring_register_files_sparse(&ring, 4)) < 0) die("io_uring_register_files_sparse", -err);
    struct iovec fixed = {.iov_base = buf, .iov_len = CHUNK};
    if ((err = io_uring_register_buffers(&ring, &fixed, 1)) < 0) die("io_uring_register_buffers", -err);

    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_openat_direct(sqe, AT_FDCWD, argv[3], O_RDONLY, 0, 0); /* into slot 0 */
    complete("open into a fixed slot", NULL);

    int fd = open(argv[4], O_RDONLY);
    if (fd < 0) die(argv[4], errno);
    if ((err = io_uring_register_files_update(&ring, 1, &fd, 1)) < 0) die("io_uring_register_files_update", -err);
    close(fd);

    int pipefd[2];
    if (pipe(pipefd) != 0) die("pipe", errno);
    long body_size = 0;
    for (int slot = 0; slot < 2; slot++) {
        long sizes[3];
        for (int op = 0; op < 3; op++) sizes[op] = pass(slot, op, pipefd, op == 0 ? &body_size : NULL);
        if (sizes[1] != sizes[0] || sizes[2] != sizes[0]) {
            fprintf(stderr, "slot %d: passes read %ld, %ld, %ld bytes\n", slot, sizes[0], sizes[1], sizes[2]);
            return 1;
        }
    }

    int sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sock < 0 || connect(sock, (struct sockaddr*)&to, sizeof(to)) != 0) die("connect", errno);
    int head = snprintf(request, 512,
                        "POST /api/paste HTTP/1.1\r\nHost: %s\r\nUser-Agent: uring-uploader/1.0\r\n"
                        "Accept: */*\r\nContent-Type: application/octet-stream\r\nContent-Length: %ld\r\n"
                        "Connection: close\r\n\r\n",
                        argv[2], body_size);
    memcpy(request + head, body, body_size);
    long size = head + body_size;
    for (long sent = 0; sent < size;) {
        sqe = io_uring_get_sqe(&ring);
        io_uring_prep_send_zc(sqe, sock, request + sent, size - sent, 0, 0);
        unsigned flags = 0;
        int n = complete("send_zc", &flags);
        if (flags & IORING_CQE_F_MORE)
            complete("send_zc notification", NULL); /* the buffer is the kernel's until then */
        sent += n;
    }
    shutdown(sock, SHUT_WR);
    while (read(sock, buf, sizeof(buf)) > 0) {}
    close(sock);
    return 0;
}
