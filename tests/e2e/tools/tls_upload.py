#!/usr/bin/python3
"""POSTs a file over TLS (Python's ssl, OpenSSL) with the SNI given, shaped the way an attacker
who read the monitor's sources would shape the connection so the name is hard to find:

  --alpn-pad N      offer N long ALPN names: a real ClientHello of 20+ KB, over several TLS
                    records and many TCP segments
  --ipv6-ext KIND   IPv6 extension headers on every packet (hop-by-hop or destination options,
                    set with setsockopt IPV6_HOPOPTS / IPV6_DSTOPTS; root only)
  --fastopen        TCP Fast Open: the ClientHello rides in the SYN (sendto MSG_FASTOPEN); with
                    --serve-cert/--serve-key the server runs in this process (in a private
                    network namespace, whose Fast Open sysctl the caller sets)

Exits 0 once the server answered (or, with an in-process server, received every byte)."""

import argparse
import socket
import ssl
import sys
import threading

IPV6_HOPOPTS = 54
IPV6_DSTOPTS = 59
TCPI_OPT_SYN_DATA = 0x20
# An 8-byte options header: next header and length (the kernel fills both), then PadN over
# the remaining six bytes.
PADN_OPTIONS = bytes([0, 0, 1, 4, 0, 0, 0, 0])


def request(sni, body):
    return (b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (sni.encode(), len(body))) + body


def context(alpn_pad):
    ctx = ssl._create_unverified_context()
    if alpn_pad:
        ctx.set_alpn_protocols([("p%03d" % i) * 50 for i in range(alpn_pad)])
    return ctx


def upload(args, body):
    family = socket.AF_INET6 if ":" in args.address else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    if args.ipv6_ext:
        raw.setsockopt(socket.IPPROTO_IPV6,
                       IPV6_HOPOPTS if args.ipv6_ext == "hop" else IPV6_DSTOPTS, PADN_OPTIONS)
    raw.settimeout(20)
    ctx = context(args.alpn_pad)
    if not args.fastopen:
        raw.connect((args.address, args.port))
        with ctx.wrap_socket(raw, server_hostname=args.sni) as tls:
            tls.sendall(request(args.sni, body))
            return tls.recv(4096)
    # Fast Open: drive the handshake through memory BIOs so its first flight goes in the SYN.
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=args.sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    sent = raw.sendto(hello, socket.MSG_FASTOPEN, (args.address, args.port))
    info = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    if not info[5] & TCPI_OPT_SYN_DATA:
        sys.exit("the SYN carried no data (TCPI_OPT_SYN_DATA unset)")
    if sent < len(hello):
        raw.sendall(hello[sent:])
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if pending := outgoing.read():
                raw.sendall(pending)
            block = raw.recv(65536)
            if not block:
                sys.exit("the server closed during the handshake")
            incoming.write(block)
    tls.write(request(args.sni, body))
    raw.sendall(outgoing.read())
    raw.shutdown(socket.SHUT_WR)
    while raw.recv(65536):
        pass
    raw.close()
    return b""


def serve(listener, cert, key, got):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    conn, _ = listener.accept()
    with ctx.wrap_socket(conn, server_side=True) as tls:
        data = b""
        while b"\r\n\r\n" not in data:
            data += tls.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int([line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")][0])
        while len(body) < length:
            body += tls.recv(65536)
        got.append(len(body))
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sni", required=True)
    parser.add_argument("--file", required=True, help="the body to POST")
    parser.add_argument("--alpn-pad", type=int, default=0)
    parser.add_argument("--ipv6-ext", choices=["hop", "dst"])
    parser.add_argument("--fastopen", action="store_true")
    parser.add_argument("--serve-cert")
    parser.add_argument("--serve-key")
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    with open(args.file, "rb") as f:
        body = f.read()
    got, server = [], None
    if args.serve_cert:
        listener = socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        listener.bind((args.address, args.port))
        listener.listen(4)
        server = threading.Thread(target=serve,
                                  args=(listener, args.serve_cert, args.serve_key, got))
        server.start()
    reply = upload(args, body)
    if server:
        server.join(20)
        if got != [len(body)]:
            sys.exit(f"the server received {got}, not [{len(body)}]")
    elif not reply.startswith(b"HTTP/1."):
        sys.exit(f"no HTTP answer: {reply[:40]!r}")
    print(f"posted {len(body)} bytes")


if __name__ == "__main__":
    main()
