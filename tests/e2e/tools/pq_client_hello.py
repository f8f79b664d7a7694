#!/usr/bin/python3
"""Sends a Chrome-shaped TLS 1.3 ClientHello (~1.9 KB) whose key_share carries an
X25519MLKEM768-sized (1216-byte) entry placed before server_name, optionally split over two
write() calls or two TLS records, then reads until the server closes or 3 s pass.
Tests that the monitor finds the SNI in a large, reordered, split hello. Standard library only."""

import argparse
import random
import socket
import struct
import sys
import time

GREASE = [0x0A0A + 0x1010 * i for i in range(16)]
X25519MLKEM768 = 0x11EC
X25519 = 0x001D


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def vec8(b):
    return u8(len(b)) + b


def vec16(b):
    return u16(len(b)) + b


def ext(ext_type, body):
    return u16(ext_type) + vec16(body)


def client_hello(sni, alpn, rng, target_size=1900):
    """The handshake message (type 1) as bytes; padded so that the whole record is target_size."""
    grease = rng.sample(GREASE, 4)
    suites = [grease[0], 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
              0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
    key_share = (u16(grease[1]) + vec16(b"\x00") +
                 u16(X25519MLKEM768) + vec16(rng.randbytes(1216)) +
                 u16(X25519) + vec16(rng.randbytes(32)))
    exts = [
        ext(grease[2], b""),
        ext(43, vec8(u16(grease[1]) + u16(0x0304) + u16(0x0303))),          # supported_versions
        ext(10, vec16(b"".join(u16(g) for g in (grease[1], X25519MLKEM768, X25519, 0x0017, 0x0018)))),
        ext(13, vec16(b"".join(u16(s) for s in (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)))),
        ext(51, vec16(key_share)),                                          # key_share, before SNI
        ext(45, vec8(b"\x01")),                                             # psk_key_exchange_modes
        ext(11, vec8(b"\x00")),                                             # ec_point_formats
        ext(23, b""),                                                       # extended_master_secret
        ext(65281, b"\x00"),                                                # renegotiation_info
        ext(35, b""),                                                       # session_ticket
        ext(16, vec16(b"".join(vec8(p.encode()) for p in alpn))),           # ALPN
        ext(0, vec16(u8(0) + vec16(sni.encode()))),                         # server_name
        ext(27, vec8(u16(2))),                                              # compress_certificate: brotli
        ext(grease[3], b"\x00"),
    ]
    body_head = u16(0x0303) + rng.randbytes(32) + vec8(rng.randbytes(32)) + \
        vec16(b"".join(u16(s) for s in suites)) + vec8(b"\x00")
    unpadded = 5 + 4 + len(body_head) + 2 + sum(len(e) for e in exts)
    if unpadded + 4 <= target_size:
        exts.append(ext(21, bytes(target_size - unpadded - 4)))             # padding
    body = body_head + vec16(b"".join(exts))
    return u8(1) + struct.pack(">I", len(body))[1:] + body


def records(handshake, record_split):
    """One TLS record, or two when record_split cuts the handshake message at that offset."""
    parts = [handshake] if not record_split else [handshake[:record_split], handshake[record_split:]]
    return b"".join(u8(22) + u16(0x0301) + vec16(p) for p in parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", nargs="?", help="HOST:PORT to connect to (omit with --dump)")
    parser.add_argument("--sni", default="pastebin.com", help="server_name to send (default %(default)s)")
    parser.add_argument("--alpn", default="h2,http/1.1", help="comma-separated ALPN list (default %(default)s)")
    parser.add_argument("--split", type=int, default=0, help="split the bytes into two write() calls at this offset")
    parser.add_argument("--record-split", type=int, default=0,
                        help="split the handshake into two TLS records at this handshake offset")
    parser.add_argument("--size", type=int, default=1900, help="total bytes to pad up to (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed random fields (reproducible bytes)")
    parser.add_argument("--dump", metavar="FILE", help="write the bytes to FILE instead of (or before) sending")
    parser.add_argument("--timeout", type=float, default=3.0, help="read deadline in seconds (default %(default)s)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    handshake = client_hello(args.sni, [p for p in args.alpn.split(",") if p], rng, args.size)
    if args.record_split < 0 or args.record_split >= len(handshake):
        parser.error(f"--record-split must be below {len(handshake)}")
    data = records(handshake, args.record_split)
    if args.split < 0 or args.split >= len(data):
        parser.error(f"--split must be below {len(data)}")
    if args.dump:
        with open(args.dump, "wb") as f:
            f.write(data)
    if not args.target:
        if not args.dump:
            parser.error("give HOST:PORT or --dump FILE")
        print(f"wrote {len(data)} bytes to {args.dump}")
        return 0

    host, _, port = args.target.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=args.timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.split:
            sock.sendall(data[:args.split])
            time.sleep(0.05)  # let the first segment leave on its own
            sock.sendall(data[args.split:])
        else:
            sock.sendall(data)
        received = 0
        deadline = time.monotonic() + args.timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            received += len(chunk)
    print(f"sent {len(data)} bytes (sni={args.sni}, split={args.split}), received {received}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
