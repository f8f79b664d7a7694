"""One sendmmsg(2) of a file's bytes as UDP datagrams on an unconnected socket, each message
addressed on its own (msg_name):

  dgram_send.py FIRST_PORT REST_PORT FILE
      the first 16 bytes of FILE to 127.0.0.1:FIRST_PORT, the rest in 512-byte datagrams to
      127.0.0.1:REST_PORT, all in one sendmmsg call
"""

import ctypes
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(Iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


def sockaddr(port):
    raw = struct.pack("<HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton("127.0.0.1"))
    return ctypes.create_string_buffer(raw, len(raw))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    first, rest = sockaddr(int(sys.argv[1])), sockaddr(int(sys.argv[2]))
    data = open(sys.argv[3], "rb").read()
    chunks = [(first, data[:16])] + [(rest, data[i:i + 512]) for i in range(16, len(data), 512)]
    keep = []
    vec = (Mmsghdr * len(chunks))()
    for m, (addr, chunk) in zip(vec, chunks):
        buf = ctypes.create_string_buffer(chunk, len(chunk))
        iov = Iovec(ctypes.cast(buf, ctypes.c_void_p), len(chunk))
        keep += [buf, iov]
        m.hdr.name = ctypes.cast(addr, ctypes.c_void_p)
        m.hdr.namelen = 16
        m.hdr.iov = ctypes.pointer(iov)
        m.hdr.iovlen = 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = libc.sendmmsg(s.fileno(), vec, len(chunks), 0)
    if sent != len(chunks):
        sys.exit(f"dgram_send: sendmmsg sent {sent} of {len(chunks)}: errno {ctypes.get_errno()}")


if __name__ == "__main__":
    main()
