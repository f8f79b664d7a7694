"""`run --listen`: Debian's real Prometheus server scrapes the monitor's /metrics until its API
says the target is up, then sees the counters a test moved (records read, an alert after an
upload); promtool accepts a scrape; /healthz and /readyz answer as documented (not ready before
the hooks are attached), and the endpoint refuses what it does not serve. The records of the run
are checked against ECS's field definitions and deploy/siem's index template too."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import ATTACKS, Monitor, assert_alert, execute, get, is_alert, paths, wait_until
from harness.config import HTTPS_PORT, METRICS_PORT, PROMETHEUS_PORT

LISTEN = f"127.0.0.1:{METRICS_PORT}"
ROOT = str(paths.REPO)


def http_get(path, port=METRICS_PORT, timeout=5):
    """(status, body) of GET path, or (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, str(e)


def raw_request(data, port=METRICS_PORT):
    """What the server answers to raw request bytes (it closes the connection after one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return answer.decode(errors="replace")


def status_line(answer):
    return answer.split("\r\n", 1)[0]


class Prometheus:
    """Debian's prometheus on loopback with a temporary config and storage, scraping LISTEN."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.access(self.binary, os.X_OK):
            pytest.fail("prometheus is not installed (scripts/setup installs the Debian package)",
                        pytrace=False)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: exfilwatch\n    scrape_interval: 1s\n"
            "    scrape_timeout: 1s\n"
            f"    static_configs:\n      - targets: ['{LISTEN}']\n")
        self.log = workdir / "prometheus.log"
        self.process = None

    def __enter__(self):
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.process.poll() is not None or http_get("/-/ready", PROMETHEUS_PORT)[0] == 200,
                   30, "prometheus to be ready")
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}",
                        pytrace=False)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return False

    def query(self, expr):
        """The instant vector of expr as {labels-json: float}."""
        status, body = http_get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}), PROMETHEUS_PORT)
        assert status == 200, (status, body)
        document = json.loads(body)
        assert document["status"] == "success", document
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in document["data"]["result"]}

    def value(self, expr):
        result = self.query(expr)
        return next(iter(result.values())) if result else None


def test_readiness_before_attach_then_ready_and_healthy(tmp_path):
    """/readyz is 503 while the BPF programs load and 200 once monitor-started is written;
    /healthz follows the ring-buffer loop."""
    output = tmp_path / "out.ndjson"
    answers = []
    stop_polling = threading.Event()

    def poll_readyz():
        while not stop_polling.is_set():
            status, _ = http_get("/readyz", timeout=1)
            if status is not None:
                answers.append((time.monotonic(), status, output.exists() and b"monitor-started" in output.read_bytes()))
            time.sleep(0.005)

    poller = threading.Thread(target=poll_readyz, daemon=True)
    poller.start()
    with open(output, "wb") as out:
        process = subprocess.Popen([str(paths.monitor_binary()), "run", "--listen", LISTEN],
                                   stdout=out, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: output.exists() and b"monitor-started" in output.read_bytes(), 30, "monitor-started")
        wait_until(lambda: any(status == 200 for _, status, _ in answers), 10, "/readyz 200")
        stop_polling.set()
        poller.join(5)
        before = [a for a in answers if not a[2]]
        assert before, f"no /readyz answer before monitor-started: {answers[:5]}"
        assert all(status == 503 for _, status, _ in before), before[:10]
        first_ready = next(a for a in answers if a[1] == 200)
        assert first_ready[2], "ready before monitor-started was written"
        status, body = http_get("/readyz")
        assert (status, body.startswith("ready")) == (200, True), body
        status, body = http_get("/healthz")
        assert status == 200 and body.startswith("ok"), body
    finally:
        stop_polling.set()
        process.send_signal(2)
        rc = process.wait(30)
    assert rc == 0, process.stderr.read().decode(errors="replace")
    # Gone with the monitor: nothing listens any more.
    assert http_get("/healthz", timeout=1)[0] is None


def test_listen_refuses_a_bad_address_and_a_taken_port(tmp_path):
    bad = subprocess.run([str(paths.monitor_binary()), "run", "--listen", "localhost:9464"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2, bad.stderr
    assert "--listen" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", METRICS_PORT))
        holder.listen()
        taken = subprocess.run([str(paths.monitor_binary()), "run", "--listen", LISTEN, "--duration", "5"],
                               capture_output=True, text=True, timeout=30)
    assert taken.returncode == 2, taken.stderr
    assert "cannot serve" in taken.stderr, taken.stderr


def test_prometheus_scrapes_the_counters_a_test_moved(tmp_path, fake_home, standin):
    monitor = Monitor(tmp_path / "monitor", extra_args=["--listen", LISTEN, "--stats-interval", "2"])
    with monitor, Prometheus(tmp_path) as prometheus:
        wait_until(lambda: prometheus.value('up{job="exfilwatch"}') == 1.0, 60,
                   "Prometheus to report the exfilwatch target up == 1")
        # Nothing alerted yet in this run; records are being read.
        wait_until(lambda: prometheus.value("exfilwatch_output_alerts_total") is not None, 20,
                   "exfilwatch_output_alerts_total in Prometheus")
        alerts_before = prometheus.value("exfilwatch_output_alerts_total")
        records_before = prometheus.value("exfilwatch_ringbuf_records_read_total")
        assert records_before is not None and records_before > 0
        # Other processes on this host may alert too: Prometheus lags the stream, never leads it.
        ndjson_alerts_before = sum(1 for r in monitor.records() if is_alert(r))
        assert alerts_before <= ndjson_alerts_before, (alerts_before, ndjson_alerts_before)
        # Every reason of the kernel drop counters is a label of one family.
        drops = prometheus.query("exfilwatch_kernel_drops_total")
        reasons = {json.loads(k)["reason"] for k in drops}
        assert {"ringbuf_full", "args_read", "path_read"} <= reasons, reasons

        scenario = next(s for s in ATTACKS if s.name == "attack1-slack-webhook-netrc")
        execute(scenario, fake_home, tmp_path, HTTPS_PORT)
        def ours(record):
            return (is_alert(record) and get(record, "destination.port") == HTTPS_PORT
                    and get(record, "destination.domain") == scenario.domain)
        alert = assert_alert([monitor.wait_for(ours, 20, "the upload's alert")], scenario.technique)[0]
        assert alert["host"]["name"] and alert["agent"]["type"] == "exfilwatch"
        records = monitor.records()
        # The alert count Prometheus must reach: every alert up to and including ours.
        target = sum(1 for r in records[:records.index(alert) + 1] if is_alert(r))
        assert target >= alerts_before + 1

        def moved():
            value = prometheus.value("exfilwatch_output_alerts_total")
            return value is not None and value >= target and value
        alerts_after = wait_until(moved, 30, f"exfilwatch_output_alerts_total to reach {target} in Prometheus")
        ndjson_alerts = sum(1 for r in monitor.records() if is_alert(r))
        assert alerts_after <= ndjson_alerts, (alerts_after, ndjson_alerts)
        wait_until(lambda: (prometheus.value("exfilwatch_ringbuf_records_read_total") or 0) > records_before,
                   20, "exfilwatch_ringbuf_records_read_total to rise in Prometheus")

        # promtool lints a scrape (names, _total, HELP, TYPE); the exposition says its version.
        status, scrape = http_get("/metrics")
        assert status == 200
        assert "exfilwatch_build_info{version=" in scrape
        lint = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True,
                              text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        # Read-only: only three paths, only GET; malformed and oversized requests get no metrics.
        assert http_get("/")[0] == 404
        assert http_get("/metrics.json")[0] == 404
        post = raw_request(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert status_line(post).startswith("HTTP/1.1 405"), post[:200]
        garbage = raw_request(b"\x00\x01\x02 not http at all\r\n\r\n")
        assert "exfilwatch_" not in garbage and " 200 " not in status_line(garbage), garbage[:200]
        huge = raw_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 65536 + b"\r\n\r\n")
        assert "exfilwatch_" not in huge and " 200 " not in status_line(huge), huge[:200]
        # More connections than the server has threads and queue: all are answered or refused,
        # none hangs, and it serves afterwards.
        sockets = []
        for _ in range(64):
            try:
                sockets.append(socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=2))
            except OSError:
                break
        for s in sockets:
            s.close()
        wait_until(lambda: http_get("/healthz")[0] == 200, 20, "/healthz 200 after a connection burst")
    # The records of this live run against ECS's own definitions.
    check = subprocess.run([paths.PYTHON, os.path.join(ROOT, "tests", "tools", "check_ecs.py"),
                            "--require-kinds", "alert,event,metric,state", str(monitor.output)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    # ... and against the Elasticsearch index template of deploy/siem: every field mapped.
    mapped = subprocess.run([paths.PYTHON, os.path.join(ROOT, "tests", "tools", "check_index_template.py"),
                             str(monitor.output)], capture_output=True, text=True, timeout=300)
    assert mapped.returncode == 0, mapped.stdout[-4000:] + mapped.stderr[-2000:]
