#!/usr/bin/python3
"""Stand-in web service for the end-to-end tests: HTTPS/HTTP listeners that accept any method,
path and body, plus raw TCP sinks. Prints "ready" on stdout once every listener is bound."""

import argparse
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_DOWNLOAD_BYTES = 512 * 1024
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
UPLOAD_REPLY = b"ok\n"


class RequestLog:
    """Appends one JSON line per request or sink connection; thread-safe."""

    def __init__(self, path):
        self._file = open(path, "a", buffering=1) if path else None
        self._lock = threading.Lock()

    def write(self, **fields):
        if self._file is None:
            return
        fields["time"] = time.time()
        with self._lock:
            self._file.write(json.dumps(fields, sort_keys=True) + "\n")


def read_chunked(rfile):
    total = 0
    while True:
        size_line = rfile.readline(1024)
        if not size_line:
            raise ConnectionError("eof inside chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers end with an empty line
            while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass
            return total
        remaining = size
        while remaining:
            block = rfile.read(min(remaining, 65536))
            if not block:
                raise ConnectionError("eof inside chunk")
            remaining -= len(block)
        total += size
        rfile.readline(1024)  # CRLF after the chunk


def read_exact(rfile, length):
    remaining = length
    while remaining:
        block = rfile.read(min(remaining, 65536))
        if not block:
            raise ConnectionError(f"eof with {remaining} body bytes missing")
        remaining -= len(block)
    return length


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            body_bytes = read_chunked(self.rfile)
        else:
            body_bytes = read_exact(self.rfile, int(self.headers.get("Content-Length", "0") or 0))
        query = parse_qs(urlsplit(self.path).query)
        if self.command in ("GET", "HEAD") and body_bytes == 0:
            size = int(query.get("size", [DEFAULT_DOWNLOAD_BYTES])[0])
            size = max(0, min(size, MAX_DOWNLOAD_BYTES))
            content_type = "application/octet-stream"
        else:
            size = len(UPLOAD_REPLY)
            content_type = "text/plain"
        self.server.request_log.write(
            kind="http", listener=self.server.label, method=self.command, path=self.path,
            host=self.headers.get("Host", ""), body_bytes=body_bytes, chunked=chunked,
            response_bytes=size, client=list(self.client_address[:2]))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        if size == len(UPLOAD_REPLY) and content_type == "text/plain":
            self.wfile.write(UPLOAD_REPLY)
            return
        block = b"x" * 65536
        remaining = size
        while remaining:
            n = min(remaining, len(block))
            self.wfile.write(block[:n])
            remaining -= n

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class HttpListener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, family, tls_context, label, request_log):
        self.address_family = family
        self.tls_context = tls_context
        self.label = label
        self.request_log = request_log
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's thread, so a stalled or broken
        # client (the raw ClientHello tools) never blocks accept().
        if self.tls_context is not None:
            request.settimeout(Handler.timeout)
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as err:
                self.request_log.write(kind="tls-error", listener=self.label, error=str(err),
                                       client=list(client_address[:2]))
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        err = sys.exc_info()[1]
        self.request_log.write(kind="error", listener=self.label, error=repr(err),
                               client=list(client_address[:2]))


class SinkHandler(socketserver.BaseRequestHandler):
    """Reads to EOF and logs the byte count: the exact-count upload target."""

    def handle(self):
        total = 0
        self.request.settimeout(60)
        while True:
            block = self.request.recv(65536)
            if not block:
                break
            total += len(block)
        self.server.request_log.write(kind="sink", listener=self.server.label, body_bytes=total,
                                      client=list(self.client_address[:2]))


class SinkListener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, family, label, request_log):
        self.address_family = family
        self.label = label
        self.request_log = request_log
        super().__init__(address, SinkHandler)


def parse_listen(spec):
    """'https:127.0.0.1:8443', 'http:[::1]:8080', 'sink:127.0.0.1:9000'"""
    kind, rest = spec.split(":", 1)
    if kind not in ("http", "https", "sink"):
        raise argparse.ArgumentTypeError(f"unknown listener kind {kind!r} in {spec!r}")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"bad listener {spec!r}; want KIND:HOST:PORT")
    return kind, host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", action="append", type=parse_listen, required=True,
                        help="KIND:HOST:PORT with KIND http, https or sink (repeatable)")
    parser.add_argument("--cert", help="PEM certificate (https listeners)")
    parser.add_argument("--key", help="PEM private key (https listeners)")
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()

    request_log = RequestLog(args.log)
    tls_context = None
    if any(kind == "https" for kind, _, _ in args.listen):
        if not (args.cert and args.key):
            parser.error("https listeners need --cert and --key")
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(args.cert, args.key)

    servers = []
    for kind, host, port in args.listen:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        label = f"{kind}:{host}:{port}"
        if kind == "sink":
            servers.append(SinkListener((host, port), family, label, request_log))
        else:
            servers.append(HttpListener((host, port), family,
                                        tls_context if kind == "https" else None, label,
                                        request_log))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
