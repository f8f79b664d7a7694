#!/usr/bin/python3
"""Stand-in for the storage and code hosts everyday clients talk to, over HTTPS on one address:
an in-memory S3 (path-style and virtual-hosted buckets: enough of the API for aws, s3cmd, rclone
and restic), git's smart HTTP through `git http-backend` (with a Basic challenge, so a credential
helper is asked), and the GitHub REST calls gh makes (gists, statuses). Logs one JSON line per
request (method, host, path, body bytes; never the body). Prints "ready" once it serves."""

import argparse
import hashlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Store:
    """Buckets of objects in memory: {bucket: {key: (bytes, mtime)}}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buckets = {}

    def bucket(self, name):
        with self.lock:
            return self.buckets.setdefault(name, {})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "storage-standin/1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    # --- plumbing -------------------------------------------------------------------------
    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, body=b"", content_type="application/xml", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, body_bytes, route):
        self.server.log.write(method=self.command, host=self.headers.get("Host", ""), path=self.path,
                              body_bytes=body_bytes, route=route,
                              authorized=bool(self.headers.get("Authorization")))

    def _serve(self):
        body = self._body()
        url = urlsplit(self.path)
        host = self.headers.get("Host", "").split(":")[0].lower()
        if ".git/" in url.path or url.path.endswith(".git"):
            self._log(len(body), "git")
            return self._git(url, body)
        if host.startswith("api.github.com") or url.path.startswith("/api/v3/"):
            self._log(len(body), "github")
            return self._github(url)
        self._log(len(body), "s3")
        return self._s3(host, url, body)

    # --- GitHub REST (what gh asks) ---------------------------------------------------------
    def _github(self, url):
        if url.path.rstrip("/").endswith("/gists"):
            return self._reply(201, json.dumps({"id": "1", "html_url": "https://gist.github.com/u/1",
                                                "files": {}}), "application/json")
        if url.path.rstrip("/").endswith("/user"):
            return self._reply(200, json.dumps({"login": "ci-bot"}), "application/json",
                               [("X-Oauth-Scopes", "repo, gist")])
        return self._reply(201, json.dumps({"state": "success", "id": 1}), "application/json")

    # --- git smart HTTP ---------------------------------------------------------------------
    def _git(self, url, body):
        if not self.headers.get("Authorization"):
            return self._reply(401, b"auth\n", "text/plain", [("WWW-Authenticate", 'Basic realm="git"')])
        env = dict(os.environ, GIT_PROJECT_ROOT=self.server.git_root, GIT_HTTP_EXPORT_ALL="1",
                   REQUEST_METHOD=self.command, PATH_INFO=unquote(url.path), QUERY_STRING=url.query,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   REMOTE_USER="ci", REMOTE_ADDR="127.0.0.1", GATEWAY_INTERFACE="CGI/1.1")
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name.lower() != "content-length" and name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # --- S3 -----------------------------------------------------------------------------------
    def _s3(self, host, url, body):
        query = parse_qs(url.query, keep_blank_values=True)
        parts = unquote(url.path).lstrip("/").split("/", 1)
        bucket, key = parts[0], parts[1] if len(parts) > 1 else ""
        # Virtual-hosted style: bucket.s3.amazonaws.com/key
        if host.endswith(".s3.amazonaws.com") or (host.count(".") > 2 and ".s3." in host):
            bucket, key = host.split(".s3.")[0], unquote(url.path).lstrip("/")
        if not bucket:
            names = "".join(f"<Bucket><Name>{escape(b)}</Name><CreationDate>2026-01-01T00:00:00.000Z"
                            f"</CreationDate></Bucket>" for b in sorted(self.server.store.buckets))
            return self._reply(200, f'<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>1</ID></Owner>'
                                    f"<Buckets>{names}</Buckets></ListAllMyBucketsResult>")
        objects = self.server.store.bucket(bucket)
        if not key:
            return self._s3_bucket(bucket, objects, query, body)
        if "uploads" in query or "uploadId" in query:
            return self._reply(501, "<Error><Code>NotImplemented</Code></Error>")
        if self.command == "PUT":
            source = self.headers.get("x-amz-copy-source")
            if source:
                sb, _, sk = unquote(source).lstrip("/").partition("/")
                data = self.server.store.bucket(sb).get(sk, (b"", 0))[0]
                objects[key] = (data, time.time())
                etag = hashlib.md5(data).hexdigest()
                return self._reply(200, f'<CopyObjectResult><ETag>"{etag}"</ETag><LastModified>'
                                        f"2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>")
            objects[key] = (body, time.time())
            return self._reply(200, b"", headers=[("ETag", f'"{hashlib.md5(body).hexdigest()}"')])
        if self.command == "DELETE":
            objects.pop(key, None)
            return self._reply(204)
        if key not in objects:
            return self._reply(404, f"<Error><Code>NoSuchKey</Code><Key>{escape(key)}</Key></Error>")
        data, mtime = objects[key]
        headers = [("ETag", f'"{hashlib.md5(data).hexdigest()}"'),
                   ("Last-Modified", formatdate(mtime, usegmt=True)), ("Accept-Ranges", "bytes")]
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and self.command == "GET":
            start, _, end = ranged[6:].partition("-")
            if start == "":
                first, last = max(0, len(data) - int(end)), len(data) - 1
            else:
                first, last = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
            headers.append(("Content-Range", f"bytes {first}-{last}/{len(data)}"))
            return self._reply(206, data[first:last + 1], "application/octet-stream", headers)
        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            return
        return self._reply(200, data, "application/octet-stream", headers)

    def _s3_bucket(self, bucket, objects, query, body):
        if self.command in ("PUT", "HEAD"):
            return self._reply(200)
        if self.command == "POST" and "delete" in query:
            for chunk in body.decode(errors="replace").split("<Key>")[1:]:
                objects.pop(chunk.split("</Key>")[0], None)
            return self._reply(200, f'<DeleteResult xmlns="{S3_NS}"></DeleteResult>')
        if "location" in query:
            return self._reply(200, f'<LocationConstraint xmlns="{S3_NS}"></LocationConstraint>')
        if any(q in query for q in ("versioning", "acl", "policy", "lifecycle", "cors", "object-lock")):
            return self._reply(200, f'<VersioningConfiguration xmlns="{S3_NS}"/>')
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        contents, prefixes = [], set()
        for key in sorted(objects):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
                continue
            data, mtime = objects[key]
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(mtime))
            contents.append(f"<Contents><Key>{escape(key)}</Key><LastModified>{stamp}</LastModified>"
                            f'<ETag>"{hashlib.md5(data).hexdigest()}"</ETag><Size>{len(data)}</Size>'
                            f"<StorageClass>STANDARD</StorageClass></Contents>")
        common = "".join(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>"
                         for p in sorted(prefixes))
        v2 = query.get("list-type", [""])[0] == "2"
        count = f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>" if v2 else "<Marker></Marker>"
        return self._reply(200, f'<ListBucketResult xmlns="{S3_NS}"><Name>{escape(bucket)}</Name>'
                                f"<Prefix>{escape(prefix)}</Prefix>{count}<MaxKeys>1000</MaxKeys>"
                                f"<Delimiter>{escape(delimiter)}</Delimiter><IsTruncated>false</IsTruncated>"
                                f"{''.join(contents)}{common}</ListBucketResult>")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve


class RequestLog:
    def __init__(self, path):
        self._file = open(path, "a", buffering=1)
        self._lock = threading.Lock()

    def write(self, **fields):
        fields["time"] = time.time()
        with self._lock:
            self._file.write(json.dumps(fields, sort_keys=True) + "\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        request.settimeout(Handler.timeout)
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            self.log.write(method="", route="tls-error", error=str(err))
            return
        super().finish_request(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--git-root", required=True, help="directory of bare repositories")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server = Server((host, int(port)), Handler)
    server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.tls.load_cert_chain(args.cert, args.key)
    server.log = RequestLog(args.log)
    server.store = Store()
    server.git_root = args.git_root
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    signal_module = __import__("signal")
    signal_module.signal(signal_module.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
