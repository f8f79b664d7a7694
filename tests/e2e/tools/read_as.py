#!/usr/bin/python3
"""Copies a file to stdout (a pipe to the uploader) or into a plain HTTP POST, reading it only
the way METHOD says, never with read(2): the e2e tests of "every way of reading counts".

  read_as.py METHOD FILE                      the file's bytes to stdout
  read_as.py METHOD FILE --post ADDR PORT HOST  the file as the body of a POST to ADDR:PORT with
                                                the Host header HOST (sendfile/splice go straight
                                                into the socket)
  --decoys-before N DIR / --decoys-after N DIR  read N harmless files under DIR before the file,
                                                or open N of them after it

METHOD: read (read(2), the reference), mmap (the mapping written out: no read of the file at all), pread, preadv, readv,
sendfile, splice (through a pipe when the destination is a socket)."""

import argparse
import mmap
import os
import socket
import sys


def decoy_paths(directory, count):
    names = sorted(os.listdir(directory))
    if len(names) < count:
        sys.exit(f"{directory} holds {len(names)} decoys, {count} asked")
    return [os.path.join(directory, n) for n in names[:count]]


def read_decoys(directory, count):
    total = 0
    for path in decoy_paths(directory, count):
        with open(path, "rb") as f:
            total += len(f.read())
    return total


def open_decoys(directory, count):
    for path in decoy_paths(directory, count):
        os.close(os.open(path, os.O_RDONLY))


def write_all(out, data):
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]


def copy(method, fd, size, out):
    """Moves `size` bytes of `fd` to the fd `out` by `method`."""
    if method == "read":
        while chunk := os.read(fd, 4096):
            write_all(out, chunk)
    elif method == "mmap":
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
            write_all(out, m)
    elif method == "pread":
        write_all(out, os.pread(fd, size, 0))
    elif method == "preadv":
        buffers = [bytearray(size // 2), bytearray(size - size // 2)]
        assert os.preadv(fd, buffers, 0) == size
        for b in buffers:
            write_all(out, b)
    elif method == "readv":
        buffer = bytearray(size)
        assert os.readv(fd, [buffer]) == size
        write_all(out, buffer)
    elif method == "sendfile":
        offset = 0
        while offset < size:
            offset += os.sendfile(out, fd, offset, size - offset)
    elif method == "splice":
        if os.fstat(out).st_mode & 0o170000 == 0o010000:  # a pipe: straight in
            moved = 0
            while moved < size:
                moved += os.splice(fd, out, size - moved)
            return
        r, w = os.pipe()
        moved = 0
        while moved < size:
            n = os.splice(fd, w, size - moved)
            moved += n
            while n:
                n -= os.splice(r, out, n)
        os.close(r)
        os.close(w)
    else:
        sys.exit(f"unknown method {method}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("file")
    parser.add_argument("--post", nargs=3, metavar=("ADDR", "PORT", "HOST"))
    parser.add_argument("--decoys-before", nargs=2, metavar=("N", "DIR"))
    parser.add_argument("--decoys-after", nargs=2, metavar=("N", "DIR"))
    args = parser.parse_args()
    if args.decoys_before:
        read_decoys(args.decoys_before[1], int(args.decoys_before[0]))
    fd = os.open(args.file, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if args.post:
        addr, port, host = args.post
        sock = socket.create_connection((addr, int(port)))
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % (host.encode(), size))
        copy(args.method, fd, size, sock.fileno())
        if args.decoys_after:
            open_decoys(args.decoys_after[1], int(args.decoys_after[0]))
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
        sock.close()
        return
    copy(args.method, fd, size, 1)
    if args.decoys_after:
        open_decoys(args.decoys_after[1], int(args.decoys_after[0]))


if __name__ == "__main__":
    main()
