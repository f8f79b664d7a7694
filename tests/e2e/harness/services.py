"""Local stand-ins for the internet: the HTTPS/HTTP web service, a CONNECT proxy and a DNS
resolver (dnsmasq), each a background process with a readiness check and a deadline."""

import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from . import namespaces, paths

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0

# Every name a test reaches on the stand-in service; all go into the certificate's SAN.
SERVICE_NAMES = (
    "pastebin.com", "paste.rs", "rentry.co", "hooks.slack.com", "content.dropboxapi.com",
    "gitlab.com", "github.com", "codeload.github.com", "abc123.ngrok-free.app",
    "upload.example.org", "s3.amazonaws.com",
)


class ServiceError(RuntimeError):
    pass


def make_certificate(workdir, names=SERVICE_NAMES, cn="standin"):
    """Self-signed RSA certificate and key (PEM) for the given names plus 127.0.0.1 and ::1."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "standin.crt", workdir / "standin.key"
    san = ",".join([f"DNS:{cn}"] + [f"DNS:{n}" for n in names] + ["IP:127.0.0.1", "IP:::1"])
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
         "-days", "2", "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out",
         str(cert)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ServiceError(f"openssl req failed ({done.returncode}): {done.stderr}")
    return cert, key


class BackgroundProcess:
    """A helper process that prints "ready" on stdout once it serves."""

    def __init__(self, argv, workdir, name):
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.name = name
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.process = None

    def start(self, timeout=READY_TIMEOUT_S):
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=err,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 4096)
                seen += chunk
                if b"ready\n" in seen:
                    return self
                if not chunk:
                    break
            if self.process.poll() is not None:
                break
        self.stop()
        raise ServiceError(f"{self.name} did not become ready: {' '.join(self.argv)}\n"
                           f"{self.stderr_path.read_text(errors='replace')[-3000:]}")

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if self.process.stdout:
            self.process.stdout.close()

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def running(self):
        return self.process is not None and self.process.poll() is None


def port_owners(ports):
    """Who listens on these TCP ports (for "address already in use" failures)."""
    done = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True)
    wanted = {str(p) for p in ports}
    lines = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3].rsplit(":", 1)[-1] in wanted:
            lines.append(line)
    if not lines:
        return "(no other listener found on those ports)"
    return "ports already taken (set E2E_HTTPS_PORT / E2E_HTTP_PORT / E2E_SINK_PORT / " \
        "E2E_PROXY_PORT to move the stand-ins):\n" + "\n".join(lines)


def read_json_lines(path):
    try:
        with open(path) as handle:
            return [json.loads(line) for line in handle if line.endswith("\n")]
    except FileNotFoundError:
        return []


def wait_until(check, timeout, what, interval=0.05):
    """check() until it returns something truthy, or raise with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class BackgroundService:
    """What the stand-ins share: a context manager over start() and stop() of the one
    BackgroundProcess a subclass's start() sets as self._process, and that process's pid."""

    _process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        if self._process:
            self._process.stop()

    @property
    def pid(self):
        return self._process.pid


class StandInService(BackgroundService):
    """The stand-in web service: HTTPS on https_port and plain HTTP on http_port on every host in
    `hosts`, plus any (kind, host, port) in `extra` (kind: https, http or sink)."""

    def __init__(self, workdir, https_port=8443, http_port=8080, hosts=("127.0.0.1", "::1"),
                 extra=(), names=SERVICE_NAMES):
        self.workdir = Path(workdir)
        self.https_port = https_port
        self.http_port = http_port
        self.names = names
        self.listeners = []
        for host in hosts:
            self.listeners += [("https", host, https_port), ("http", host, http_port)]
        self.listeners += list(extra)
        self.log_path = self.workdir / "standin-requests.ndjson"
        self.cert = self.key = None

    def start(self):
        self.cert, self.key = make_certificate(self.workdir, self.names)
        argv = [paths.PYTHON, paths.TOOLS_DIR / "standin_server.py", "--cert", self.cert,
                "--key", self.key, "--log", self.log_path]
        for kind, host, port in self.listeners:
            shown = f"[{host}]" if ":" in host else host
            argv += ["--listen", f"{kind}:{shown}:{port}"]
        try:
            self._process = BackgroundProcess(argv, self.workdir, "standin").start()
        except ServiceError as err:
            raise ServiceError(f"{err}\n{port_owners([p for _, _, p in self.listeners])}")
        return self

    def requests(self):
        """Every request served so far (one dict each: kind, method, path, host, body_bytes…)."""
        return read_json_lines(self.log_path)

    def wait_for_request(self, predicate, timeout=15.0, what="a request"):
        return wait_until(lambda: next((r for r in self.requests() if predicate(r)), None),
                          timeout, f"the stand-in service to log {what}; "
                          f"log so far: {self.requests()[-10:]}")


class ConnectProxy(BackgroundService):
    """A CONNECT-only forward proxy (`forward_plain`: absolute-form requests too); `names` maps
    a CONNECT host to the address dialled."""

    def __init__(self, workdir, listen="127.0.0.1:3128", names=None, forward_plain=False):
        self.workdir = Path(workdir)
        self.listen = listen
        self.names = dict(names or {})
        self.forward_plain = forward_plain
        self.log_path = self.workdir / "proxy-tunnels.ndjson"

    def start(self):
        argv = [paths.PYTHON, paths.TOOLS_DIR / "connect_proxy.py", "--listen", self.listen,
                "--log", self.log_path]
        for name, address in self.names.items():
            argv += ["--map", f"{name}={address}"]
        if self.forward_plain:
            argv.append("--forward-plain")
        try:
            self._process = BackgroundProcess(argv, self.workdir, "proxy").start()
        except ServiceError as err:
            raise ServiceError(f"{err}\n{port_owners([int(self.listen.rsplit(':', 1)[1])])}")
        return self

    @property
    def url(self):
        return f"http://{self.listen}"

    def tunnels(self):
        return read_json_lines(self.log_path)


def dns_query(name, server="127.0.0.2", port=53, qtype=1, timeout=1.0):
    """One UDP DNS query; returns the IPv4 addresses (A) or IPv6 (AAAA) in the answer."""
    query_id = random.randrange(1 << 16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + b"\0" + \
        struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        reply, _ = sock.recvfrom(4096)
    rid, flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    if rid != query_id:
        raise ServiceError("dns reply id mismatch")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(reply, offset) + 4
    answers = []
    for _ in range(ancount):
        offset = _skip_name(reply, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", reply[offset:offset + 10])
        offset += 10
        rdata = reply[offset:offset + rdlength]
        offset += rdlength
        if rtype == 1 and rdlength == 4:
            answers.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28 and rdlength == 16:
            answers.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return answers


def _skip_name(data, offset):
    while True:
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + length


class Resolver(BackgroundService):
    """dnsmasq on 127.0.0.2:53 answering only the names in `addresses` (name → ip; no upstream,
    no /etc/hosts). view(workdir) gives a mount-namespace view whose resolv.conf points at it."""

    def __init__(self, workdir, addresses, listen="127.0.0.2", port=53):
        self.workdir = Path(workdir)
        self.addresses = dict(addresses)
        self.listen = listen
        self.port = port
        self.log_path = self.workdir / "dnsmasq.log"
        self.process = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                f"--listen-address={self.listen}", f"--port={self.port}", "--user=root",
                "--pid-file", "--log-queries", f"--log-facility={self.log_path}",
                "--cache-size=0"]
        argv += [f"--address=/{name}/{ip}" for name, ip in self.addresses.items()]
        self.stderr_path = self.workdir / "dnsmasq.stderr"
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(argv, stdout=err, stderr=err,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        probe_name, probe_ip = next(iter(self.addresses.items()))

        def answered():
            if self.process.poll() is not None:
                raise ServiceError(f"dnsmasq exited ({self.process.returncode}): "
                                   f"{self.stderr_path.read_text(errors='replace')}")
            try:
                return probe_ip in dns_query(probe_name, self.listen, self.port, timeout=0.3)
            except (OSError, ServiceError):
                return False

        try:
            wait_until(answered, READY_TIMEOUT_S, f"dnsmasq on {self.listen}:{self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)

    @property
    def pid(self):
        return self.process.pid

    def view(self, workdir=None):
        return namespaces.private_resolver(self.listen, workdir or self.workdir / "view")
