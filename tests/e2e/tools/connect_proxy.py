#!/usr/bin/python3
"""Minimal HTTP forward proxy for the end-to-end tests: CONNECT only (with --forward-plain also
absolute-form requests, `POST http://host:port/path`, as a plain HTTP proxy forwards them), names
resolved through --map first (so a test reaches a real service name on loopback). Prints
"ready" once bound."""

import argparse
import json
import socket
import socketserver
import threading
import time

MAX_HEAD_BYTES = 16384


class ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        client.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            block = client.recv(4096)
            if not block:
                return
            head += block
            if len(head) > MAX_HEAD_BYTES:
                client.sendall(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
                return
        head, _, early = head.partition(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) == 3 and self.server.forward_plain and parts[1].startswith("http://"):
            return self.forward(client, parts, head, early)
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.server.log(kind="refused", request_line=request_line)
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                           b"Connection: close\r\n\r\n")
            return
        target = parts[1]
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        address = self.server.names.get(host, host)
        try:
            upstream = socket.create_connection((address, int(port)), timeout=10)
        except (OSError, ValueError) as err:
            self.server.log(kind="connect-failed", target=target, error=str(err))
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.log(kind="connect", target=target, address=address)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with upstream:
            upstream.settimeout(None)
            client.settimeout(None)
            if early:
                upstream.sendall(early)
            pump = threading.Thread(target=copy, args=(upstream, client), daemon=True)
            pump.start()
            copy(client, upstream)
            pump.join(30)

    def forward(self, client, parts, head, early):
        """An absolute-form request: sent on to its host in origin form, the answer relayed."""
        method, url, version = parts
        authority, _, path = url[len("http://"):].partition("/")
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "80")
        address = self.server.names.get(host, host)
        try:
            upstream = socket.create_connection((address, int(port)), timeout=10)
        except (OSError, ValueError) as err:
            self.server.log(kind="forward-failed", target=authority, error=str(err))
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.log(kind="forward", target=authority, address=address)
        rest = head.split(b"\r\n", 1)[1] if b"\r\n" in head else b""
        with upstream:
            upstream.sendall(f"{method} /{path} {version}\r\n".encode("latin-1") + rest +
                             b"\r\n\r\n" + early)
            pump = threading.Thread(target=copy, args=(upstream, client), daemon=True)
            pump.start()
            copy(client, upstream)
            pump.join(30)


def copy(src, dst):
    try:
        while True:
            block = src.recv(65536)
            if not block:
                break
            dst.sendall(block)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, names, log_path, forward_plain=False):
        self.names = names
        self.forward_plain = forward_plain
        self._log_file = open(log_path, "a", buffering=1) if log_path else None
        self._lock = threading.Lock()
        super().__init__(address, ProxyHandler)

    def log(self, **fields):
        if self._log_file is None:
            return
        fields["time"] = time.time()
        with self._lock:
            self._log_file.write(json.dumps(fields, sort_keys=True) + "\n")


def parse_map(text):
    name, sep, address = text.partition("=")
    if not sep or not name or not address:
        raise argparse.ArgumentTypeError(f"bad --map {text!r}; want NAME=IP")
    return name, address


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:3128", help="HOST:PORT")
    parser.add_argument("--map", action="append", type=parse_map, default=[],
                        help="NAME=IP: where CONNECT NAME:PORT goes (repeatable)")
    parser.add_argument("--log", help="append one JSON line per tunnel here")
    parser.add_argument("--forward-plain", action="store_true",
                        help="also forward absolute-form (plain HTTP proxy) requests")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server = ProxyServer((host, int(port)), dict(args.map), args.log, args.forward_plain)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
