"""Self-test of the e2e infrastructure without the monitor: the stand-in service with real
clients, the CONNECT proxy, dnsmasq in a private namespace, private /etc/hosts, the fake HOME,
every scenario's command, and the Monitor wrapper driven by a scripted stand-in binary."""

import json
import os
import socket
import ssl
import stat
import subprocess
import textwrap

import pytest

import harness
from harness import (ALL, FakeHome, Monitor, assert_alert, assert_silent, check_service_saw,
                     dns_query, execute, find_threshold, get, private_hosts, run_scenario)
from harness import paths

from harness.config import DNS_ADDRESS, DNS_NAME, HTTP_PORT, HTTPS_PORT, RESOLVER_ADDRESS, SINK_PORT

MiB = 1024 * 1024


def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", 60)
    return subprocess.run(argv, **kwargs)


def upload_file(tmp_path, size, name="payload.bin"):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def last_request(standin, **match):
    return [r for r in standin.requests() if all(r.get(k) == v for k, v in match.items())]


# stand-in service


def test_standin_https_upload_curl_content_length(standin, tmp_path):
    data = upload_file(tmp_path, 300_000)
    done = run(["curl", "-sk", "--resolve", f"pastebin.com:{HTTPS_PORT}:127.0.0.1",
                "--data-binary", f"@{data}", f"https://pastebin.com:{HTTPS_PORT}/up1"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    standin.wait_for_request(lambda r: r.get("path") == "/up1" and r["body_bytes"] == 300_000
                             and r["host"] == f"pastebin.com:{HTTPS_PORT}" and not r["chunked"])


def test_standin_chunked_upload_from_stdin(standin, tmp_path):
    data = upload_file(tmp_path, 200_001)
    with open(data, "rb") as stdin:
        done = run(["curl", "-sk", "--resolve", f"paste.rs:{HTTPS_PORT}:127.0.0.1", "-T", "-",
                    f"https://paste.rs:{HTTPS_PORT}/chunked"], stdin=stdin)
    assert done.returncode == 0, done.stderr
    standin.wait_for_request(lambda r: r.get("path") == "/chunked" and r["chunked"]
                             and r["body_bytes"] == 200_001)


def test_standin_download_default_and_sized(standin):
    done = run(["curl", "-sk", "--resolve", f"codeload.github.com:{HTTPS_PORT}:127.0.0.1",
                f"https://codeload.github.com:{HTTPS_PORT}/org/repo/tar.gz/main"])
    assert done.returncode == 0 and len(done.stdout) == 512 * 1024
    done = run(["curl", "-s", f"http://127.0.0.1:{HTTP_PORT}/x?size=12345"])
    assert done.returncode == 0 and len(done.stdout) == 12345


def test_standin_ipv6_https(standin):
    done = run(["curl", "-sk", "-g", "--resolve", f"pastebin.com:{HTTPS_PORT}:[::1]", "-d", "v6",
                f"https://pastebin.com:{HTTPS_PORT}/v6"])
    assert done.returncode == 0, done.stderr
    standin.wait_for_request(lambda r: r.get("path") == "/v6" and r["client"][0] == "::1")


def test_standin_python_ssl_sni_and_openssl_s_client(standin):
    context = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="pastebin.com") as tls:
            tls.sendall(b"POST /py HTTP/1.1\r\nHost: pastebin.com\r\nContent-Length: 5\r\n"
                        b"Connection: close\r\n\r\nhello")
            reply = b""
            while chunk := tls.recv(4096):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok\n")
    done = run(["openssl", "s_client", "-connect", f"127.0.0.1:{HTTPS_PORT}", "-servername",
                "pastebin.com", "-brief"], input=b"", timeout=30)
    assert done.returncode == 0, done.stderr
    # the certificate names every stand-in service
    text = run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                str(standin.cert)]).stdout.decode()
    for name in harness.SERVICE_NAMES:
        assert f"DNS:{name}" in text


def test_standin_sink_counts_sendfile_bytes_exactly(standin, tmp_path):
    data = upload_file(tmp_path, MiB)
    with socket.create_connection(("127.0.0.1", SINK_PORT), timeout=10) as sock, \
            open(data, "rb") as handle:
        assert sock.sendfile(handle) == MiB
        port = sock.getsockname()[1]
    standin.wait_for_request(lambda r: r["kind"] == "sink" and r["client"][1] == port
                             and r["body_bytes"] == MiB)


def test_standin_survives_post_quantum_client_hello(standin):
    tool = paths.TOOLS_DIR / "pq_client_hello.py"
    for split in ([], ["--split", "700"]):
        done = run([paths.PYTHON, str(tool), "--sni", "pastebin.com", *split,
                    f"127.0.0.1:{HTTPS_PORT}"])
        assert done.returncode == 0, done.stderr
    # the listener still serves afterwards
    done = run(["curl", "-sk", f"https://127.0.0.1:{HTTPS_PORT}/after-pq?size=3"])
    assert done.stdout == b"xxx"


# proxy


def test_connect_proxy_tunnels_to_mapped_name(standin, proxy, tmp_path):
    data = upload_file(tmp_path, 4096)
    done = run(["curl", "-sk", "-x", proxy.url, "--data-binary", f"@{data}",
                f"https://pastebin.com:{HTTPS_PORT}/via-proxy"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    assert any(t["kind"] == "connect" and t["target"] == f"pastebin.com:{HTTPS_PORT}"
               for t in proxy.tunnels())
    standin.wait_for_request(lambda r: r.get("path") == "/via-proxy" and r["body_bytes"] == 4096)


def test_connect_proxy_refuses_plain_requests(proxy):
    done = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy.url,
                "http://pastebin.com/"])
    assert done.stdout == b"405"


# resolver and private /etc views


def test_resolver_answers_only_its_names(resolver):
    assert dns_query(DNS_NAME, RESOLVER_ADDRESS) == [DNS_ADDRESS]
    try:
        answers = dns_query("example.net", RESOLVER_ADDRESS, timeout=0.5)
    except TimeoutError:
        answers = []
    assert answers == []


def test_resolver_namespace_curl_and_python(standin, resolver, tmp_path):
    view = resolver.view(tmp_path / "dnsview")
    done = view.run(["curl", "-s", "-d", "dns", f"http://{DNS_NAME}:{HTTP_PORT}/via-dns"])
    assert done.returncode == 0, done.stderr
    standin.wait_for_request(lambda r: r.get("path") == "/via-dns"
                             and r["listener"] == f"http:{DNS_ADDRESS}:{HTTP_PORT}")
    lookup = view.run([paths.PYTHON, "-c",
                       f"import socket; print(socket.gethostbyname('{DNS_NAME}'))"])
    assert lookup.stdout.decode().strip() == DNS_ADDRESS, lookup.stderr
    # the host's view is untouched
    assert RESOLVER_ADDRESS not in open("/etc/resolv.conf").read()
    queries = resolver.log_path.read_text()
    assert f"query[A] {DNS_NAME}" in queries


def test_namespace_keeps_the_pid(tmp_path):
    view = private_hosts(["paste.rs"], tmp_path / "etc")
    process = view.popen(["sh", "-c", "echo $$"], stdout=subprocess.PIPE)
    out, _ = process.communicate(timeout=30)
    assert int(out) == process.pid


def test_private_hosts_for_wget_and_python(standin, tmp_path):
    view = private_hosts(["paste.rs", "gitlab.com"], tmp_path / "etc")
    data = upload_file(tmp_path, 2048)
    done = view.run(["wget", "-q", "-O", "-", "--no-check-certificate", f"--post-file={data}",
                     f"https://paste.rs:{HTTPS_PORT}/wget"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    standin.wait_for_request(lambda r: r.get("path") == "/wget" and r["body_bytes"] == 2048
                             and r["host"] == f"paste.rs:{HTTPS_PORT}")
    script = ("import ssl,urllib.request; print(urllib.request.urlopen("
              f"'https://gitlab.com:{HTTPS_PORT}/py?size=10', "
              "context=ssl._create_unverified_context()).read())")
    done = view.run([paths.PYTHON, "-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == b"b'xxxxxxxxxx'"
    assert "paste.rs" not in open("/etc/hosts").read()


# fake HOME


def test_fake_home_files(tmp_path):
    home = FakeHome(tmp_path / "home").create()
    expected = [".ssh/id_ed25519", ".ssh/id_ed25519.pub", ".aws/credentials", ".aws/config",
                ".netrc", ".docker/config.json", ".bash_history"]
    assert sorted(home.files) == sorted(expected)
    for relative in expected:
        path = home.path / relative
        size = path.stat().st_size
        assert size > 80, relative
        if relative not in (".ssh/id_ed25519", ".ssh/id_ed25519.pub"):
            assert 2048 <= size <= 16384, (relative, size)
    assert stat.S_IMODE((home.path / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE((home.path / ".ssh/id_ed25519").stat().st_mode) == 0o600
    json.loads((home.path / ".docker/config.json").read_text())
    done = run(["ssh-keygen", "-lf", str(home.path / ".ssh/id_ed25519.pub")])
    assert done.returncode == 0 and b"ED25519" in done.stdout, done.stderr
    done = run(["ssh-keygen", "-y", "-f", str(home.path / ".ssh/id_ed25519")])
    assert done.stdout.split()[:2] == (home.path / ".ssh/id_ed25519.pub").read_bytes().split()[:2]
    # deterministic per seed, different between seeds
    again = FakeHome(tmp_path / "again").create()
    assert (again.path / ".netrc").read_bytes() == (home.path / ".netrc").read_bytes()
    other = FakeHome(tmp_path / "other", seed=7).create()
    assert (other.path / ".netrc").read_bytes() != (home.path / ".netrc").read_bytes()


# every scenario's command against the stand-in service, without the monitor


@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.name)
def test_scenario_command_reaches_standin(scenario, standin, tmp_path):
    home = FakeHome(tmp_path / "home").create()
    execute(scenario, home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    for leftover in scenario.leftovers:
        assert not os.path.lexists(leftover)


def test_run_scenario_reports_failure(tmp_path):
    home = FakeHome(tmp_path / "home").create()
    result = run_scenario('echo "$HOME"; echo oops >&2; exit 3', home.env())
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == \
        (3, str(home.path), "oops")
    with pytest.raises(pytest.fail.Exception):
        result.check()


# records, thresholds, pass/fail definitions


def test_get_nested_flattened_and_mixed():
    nested = {"process": {"pid": 7, "parent": {"pid": 1}}, "event": {"kind": "alert"}}
    flat = {"process.parent.pid": 1, "event.kind": "alert"}
    mixed = {"process": {"parent.pid": 1}, "event.kind": "alert"}
    for record in (nested, flat, mixed):
        assert get(record, "process.parent.pid") == 1
        assert get(record, "event.kind") == "alert"
        assert get(record, "process.parent.name") is None
        assert get(record, "process.parent.name", "-") == "-"
    assert get(nested, "process.pid") == 7
    assert get({"a": 0}, "a") == 0


def test_find_threshold_tolerates_layouts():
    import yaml
    shipped = yaml.safe_load((paths.REPO / "rules" / "default.yaml").read_text())
    assert find_threshold(shipped) == shipped["settings"]["alert_threshold"]
    assert find_threshold({"settings": {"realert_step": 10, "alert_threshold": 60}}) == 60
    assert find_threshold({"thresholds": {"alert": 60}}) == 60
    assert find_threshold({"scoring": {"alert_threshold": 55, "max": 100}}) == 55
    assert find_threshold({"defaults": {"alert_min_score": 70}}) == 70
    assert find_threshold({"rules": [{"name": "x"}], "version": 1}) is None


def alert(technique, sub, score):
    return {"event": {"kind": "alert", "action": "exfiltration-suspected", "risk_score": score},
            "threat": {"technique": {"id": [technique],
                                     "subtechnique": {"id": [sub] if sub else []}}}}


def test_assert_alert_and_silent():
    records = [{"event": {"kind": "event", "action": "flow-summary"}},
               alert("T1567", "T1567.003", 80)]
    assert len(assert_alert(records, "T1567.003", 50)) == 1
    assert len(assert_alert(records, "T1567", 50)) == 1
    for technique, threshold in (("T1567.004", 50), ("T1567.003", 81)):
        with pytest.raises(pytest.fail.Exception):
            assert_alert(records, technique, threshold)
    with pytest.raises(pytest.fail.Exception):
        assert_silent(records)
    assert_silent(records[:1])
    # a string id (not an array) counts too
    single = alert("T1567", None, 90)
    single["threat"]["technique"]["id"] = "T1567"
    assert assert_alert([single], "T1567", 50)


# the Monitor wrapper, driven by a scripted binary that speaks the CLI contract

FAKE_MONITOR = textwrap.dedent("""\
    #!/usr/bin/python3
    import json, os, signal, sys, time
    mode = os.environ.get("FAKE_MODE", "ok")
    def emit(kind, action, **extra):
        rec = {"@timestamp": "2025-01-01T00:00:00Z", "event": {"kind": kind, "action": action}}
        rec.update(extra)
        sys.stdout.write(json.dumps(rec) + "\\n"); sys.stdout.flush()
    if mode == "crash":
        sys.stderr.write("cannot load BPF: EPERM\\n"); sys.exit(2)
    if mode != "silent-start":
        emit("state", "monitor-started")
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    n = 0
    while not stop:
        n += 1
        if n == 3:
            emit("event", "flow-summary", process={"pid": 42}, source={"bytes": 10})
        time.sleep(0.02)
    if mode != "no-stopped":
        emit("state", "monitor-stopped")
    emit("metric", "stats")
    if mode == "event-after-stop":
        emit("event", "exec")
    sys.exit(1 if mode == "bad-exit" else 0)
""")


@pytest.fixture
def fake_monitor(tmp_path, monkeypatch):
    binary = tmp_path / "fake-exfilwatch"
    binary.write_text(FAKE_MONITOR)
    binary.chmod(0o755)
    validator = tmp_path / "validate_ndjson.py"
    validator.write_text("import json, sys\n"
                         "[json.loads(l) for l in open(sys.argv[1])]\n")
    monkeypatch.setattr(paths, "validator_script", lambda: validator)
    return binary


def test_monitor_lifecycle(fake_monitor, tmp_path):
    with Monitor(tmp_path / "m", binary=fake_monitor) as mon:
        assert get(mon.started_record, "event.action") == "monitor-started"
        flow = mon.wait_for(harness.is_action("flow-summary", {"process.pid": 42}), timeout=10)
        assert get(flow, "source.bytes") == 10
        assert mon.poll_for(harness.is_action("dns-answer"), timeout=0.2) is None
        with pytest.raises(pytest.fail.Exception, match="timed out"):
            mon.wait_for(harness.is_action("dns-answer"), timeout=0.3, what="a dns answer")
    assert mon.returncode == 0
    assert get(mon.stopped_record, "event.action") == "monitor-stopped"
    assert mon.argv[1:4] == ["run", "--events", "all"]


@pytest.mark.parametrize("mode, message", [
    ("crash", "exited with code 2 before monitor-started"),
    ("silent-start", "no monitor-started record"),
])
def test_monitor_start_failures(fake_monitor, tmp_path, monkeypatch, mode, message):
    monkeypatch.setenv("FAKE_MODE", mode)
    with pytest.raises(pytest.fail.Exception, match=message) as failure:
        Monitor(tmp_path / "m", binary=fake_monitor, start_timeout=1.5).start()
    if mode == "crash":
        assert "cannot load BPF" in str(failure.value)


@pytest.mark.parametrize("mode, message", [
    ("no-stopped", "without a monitor-stopped record"),
    ("bad-exit", "exited with code 1"),
    ("event-after-stop", "records after monitor-stopped"),
])
def test_monitor_stop_failures(fake_monitor, tmp_path, monkeypatch, mode, message):
    monkeypatch.setenv("FAKE_MODE", mode)
    mon = Monitor(tmp_path / "m", binary=fake_monitor)
    mon.start()
    with pytest.raises(pytest.fail.Exception, match=message):
        mon.stop()


def test_monitor_requires_the_schema_validator(fake_monitor, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "validator_script", lambda: tmp_path / "absent.py")
    mon = Monitor(tmp_path / "m", binary=fake_monitor)
    mon.start()
    with pytest.raises(pytest.fail.Exception, match="schema validator .* is missing"):
        mon.stop()


def test_monitor_output_that_fails_validation(fake_monitor, tmp_path, monkeypatch):
    strict = tmp_path / "strict.py"
    strict.write_text("import sys; print('line 2: bad'); sys.exit(1)\n")
    monkeypatch.setattr(paths, "validator_script", lambda: strict)
    mon = Monitor(tmp_path / "m", binary=fake_monitor)
    mon.start()
    with pytest.raises(pytest.fail.Exception, match="does not validate"):
        mon.stop()


def test_monitor_rejects_non_json_lines(tmp_path):
    out = tmp_path / "bad.ndjson"
    out.write_text('{"event": {"kind": "state"}}\nnot json\n')
    with pytest.raises(AssertionError, match="bad.ndjson:2: not JSON"):
        harness.read_ndjson(out)


def test_missing_binary_fails_loudly(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="missing or not executable"):
        Monitor(tmp_path / "m", binary=tmp_path / "nope").start()

