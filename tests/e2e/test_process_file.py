"""Process and file telemetry against the real monitor: exec with odd argv and its parent, a
process older than the monitor that execs a child, a fork storm, and exact per-file byte counts
through relative paths, dirfds, inherited fds, 1-byte reads, sendfile, and failed opens."""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import get, is_action
from harness.monitor import Monitor

WAIT_S = 20.0
PY = "/usr/bin/python3"


def run(argv, **kwargs):
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, **kwargs)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    return process.pid


def summary_for(pid, path, size):
    return is_action("file-summary", {"process.pid": pid, "file.path": path,
                                      "exfilwatch.file.bytes_read": size})


def test_exec_odd_argv_and_parent(monitor):
    shell = subprocess.Popen(["/bin/bash", "-c", "/bin/echo 'a b' $'\\xff' '\"q\"' >/dev/null; exit 0"])
    shell.wait(timeout=30)
    record = monitor.wait_for(
        is_action("exec", {"process.executable": "/usr/bin/echo", "process.parent.pid": shell.pid}),
        WAIT_S, "exec of /bin/echo")
    assert get(record, "process.args") == ["/bin/echo", "a b", "\ufffd", '"q"']
    assert get(record, "process.parent.pid") == shell.pid
    assert get(record, "process.entity_id")


def test_process_older_than_monitor_keeps_ancestry(tmp_path, fake_home, standin):
    go = tmp_path / "go"
    # Started before the monitor; waits for a file, then execs a child.
    elder = subprocess.Popen(["/bin/bash", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done; /bin/true elder-child"])
    with Monitor(tmp_path / "monitor") as monitor:
        go.touch()
        elder.wait(timeout=30)
        child = monitor.wait_for(is_action("exec", {"process.args": ["/bin/true", "elder-child"]}),
                                 WAIT_S, "exec of the elder's child")
        # The elder (pid reused by bash's exec of the last command, or its parent) is known by
        # its command line although it started before the monitor.
        parent_pid = get(child, "process.parent.pid")
        assert parent_pid in (elder.pid,) or get(child, "process.pid") == elder.pid
        assert get(child, "process.parent.entity_id")


def test_fork_storm_links_every_child(monitor):
    script = "import os\nfor _ in range(200):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(3)\n    os.waitpid(pid, 0)\n"
    parent = subprocess.Popen([PY, "-c", script])
    parent.wait(timeout=60)
    # The parent exits after reaping every child, so its exit record comes after theirs.
    monitor.wait_for(is_action("exit", {"process.pid": parent.pid}), WAIT_S, "exit of the storm's parent")
    forks = [r for r in monitor.records() if is_action("fork", {"process.parent.pid": parent.pid})(r)]
    exits = [r for r in monitor.records() if is_action("exit", {"process.parent.pid": parent.pid})(r)]
    assert len(forks) == 200
    assert {get(r, "process.exit_code") for r in exits} == {3}
    assert len({get(r, "process.entity_id") for r in forks}) == 200


def test_cat_relative_path_from_another_cwd(monitor, tmp_path):
    target = tmp_path / "ew-f"
    target.write_bytes(os.urandom(12345))
    relative = os.path.relpath(target, "/")
    pid = run(["cat", relative], cwd="/")
    monitor.wait_for(summary_for(pid, str(target), 12345), WAIT_S, "cat's summary of ew-f")


def test_dirfd_relative_openat_and_one_byte_reads(monitor, tmp_path):
    target = tmp_path / "dir" / "small"
    target.parent.mkdir()
    target.write_bytes(b"x" * 777)
    script = (f"import os\nd = os.open({str(target.parent)!r}, os.O_RDONLY)\n"
              "fd = os.open('small', os.O_RDONLY, dir_fd=d)\n"
              "while os.read(fd, 1):\n    pass\n")
    pid = run([PY, "-c", script], cwd="/")
    opened = monitor.wait_for(is_action("file-open", {"process.pid": pid, "file.path": str(target)}),
                              WAIT_S, "dirfd-relative open")
    assert get(opened, "exfilwatch.file.requested_path") == "small"
    monitor.wait_for(summary_for(pid, str(target), 777), WAIT_S, "777 one-byte reads")


# open(2), creat(2), openat(2) and openat2(2) by number (x86_64), each with flags of its own, so a
# record shows which syscall's arguments it was built from; the failed relative openat and
# openat2 show their dirfd (the walked directory), the child's cwd being "/". One BPF program
# serves all four tracepoints: a tracepoint left unattached loses its opens here.
PATH_OPENS = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
d = sys.argv[1]
def call(*args):
    return libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
def opened(fd):
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open")
    os.close(fd)
dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
how = (ctypes.c_uint64 * 3)(os.O_RDONLY | os.O_CLOEXEC, 0, 0)  # struct open_how
opened(call(2, f"{d}/via-open".encode(), os.O_RDONLY | os.O_NONBLOCK))
opened(call(85, f"{d}/via-creat".encode(), 0o600))
opened(call(257, dirfd, b"via-openat", os.O_RDONLY | os.O_NOCTTY))
opened(call(437, dirfd, b"via-openat2", ctypes.byref(how), ctypes.sizeof(how)))
assert call(257, dirfd, b"missing-openat", os.O_RDONLY) < 0
assert call(437, dirfd, b"missing-openat2", ctypes.byref(how), ctypes.sizeof(how)) < 0
"""


def test_each_path_open_syscall_is_reported(monitor, tmp_path):
    for name in ("via-open", "via-openat", "via-openat2"):
        (tmp_path / name).write_text(name)
    pid = run([PY, "-c", PATH_OPENS, str(tmp_path)], cwd="/")
    expected = {
        "via-open": (str(tmp_path / "via-open"), os.O_RDONLY | os.O_NONBLOCK, None),
        # creat(2) is open(2) with O_WRONLY | O_CREAT | O_TRUNC: a write
        "via-creat": (str(tmp_path / "via-creat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, None),
        "via-openat": ("via-openat", os.O_RDONLY | os.O_NOCTTY, None),
        "via-openat2": ("via-openat2", os.O_RDONLY | os.O_CLOEXEC, None),
        "missing-openat": ("missing-openat", os.O_RDONLY, "ENOENT"),
        "missing-openat2": ("missing-openat2", os.O_RDONLY | os.O_CLOEXEC, "ENOENT"),
    }
    for name, (requested, flags, error) in expected.items():
        record = monitor.wait_for(is_action("file-open", {"process.pid": pid, "file.path": str(tmp_path / name)}),
                                  WAIT_S, f"the open of {name}")
        assert get(record, "exfilwatch.file.requested_path") == requested, record
        assert get(record, "exfilwatch.file.flags") == flags, record
        assert get(record, "exfilwatch.file.error") == error, record
    summary = monitor.wait_for(is_action("file-summary", {"process.pid": pid,
                                                          "file.path": str(tmp_path / "via-creat")}),
                               WAIT_S, "the summary of the creat()ed file")
    assert get(summary, "exfilwatch.file.opened_for_write") is True, summary


def test_child_reads_inherited_fd(monitor, tmp_path):
    target = tmp_path / "inherited"
    target.write_bytes(os.urandom(5000))
    # The shell opens the file; cat reads it as its stdin without opening anything.
    shell = subprocess.Popen(["/bin/bash", "-c", f"exec 7<{target}; cat <&7 >/dev/null; echo $! >/dev/null"])
    shell.wait(timeout=30)
    record = monitor.wait_for(
        is_action("file-summary", {"file.path": str(target), "exfilwatch.file.bytes_read": 5000,
                                   "process.name": "cat"}),
        WAIT_S, "cat's summary of the inherited fd")
    assert get(record, "process.parent.pid") == shell.pid


def test_sendfile_to_socket(monitor, tmp_path):
    target = tmp_path / "sent"
    target.write_bytes(os.urandom(200_000))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def drain():
        conn, _ = server.accept()
        while conn.recv(65536):
            pass
        conn.close()

    thread = threading.Thread(target=drain)
    thread.start()
    script = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}))\n"
              f"s.sendfile(open({str(target)!r}, 'rb'))\ns.close()\n")
    pid = run([PY, "-c", script])
    thread.join(timeout=30)
    server.close()
    monitor.wait_for(summary_for(pid, str(target), 200_000), WAIT_S, "sendfile summary")


def test_a_reader_still_running_is_summarised_as_its_counts_move(monitor, tmp_path):
    # The periodic summaries look only at the pairs the kernel queued as moving: a process that
    # keeps its file open gets a summary of each burst while it runs, and none while it idles.
    target = tmp_path / "live"
    target.write_bytes(os.urandom(300_000))
    go = tmp_path / "go"
    script = ("import os, sys, time\n"
              "f = open(sys.argv[1], 'rb', buffering=0)\n"
              "f.read(100000)\n"
              "while not os.path.exists(sys.argv[2]): time.sleep(0.05)\n"
              "f.read(50000)\n"
              "time.sleep(60)\n")
    reader = subprocess.Popen([PY, "-c", script, str(target), str(go)], stdin=subprocess.DEVNULL)
    try:
        monitor.wait_for(summary_for(reader.pid, str(target), 100_000), WAIT_S, "the first burst's summary")
        go.touch()
        monitor.wait_for(summary_for(reader.pid, str(target), 150_000), WAIT_S, "the second burst's summary")
        time.sleep(2.5)  # two more harvests with nothing moved
        assert reader.poll() is None, "the reader exited: these were not periodic summaries"
        counts = [get(r, "exfilwatch.file.bytes_read") for r in monitor.find(
            is_action("file-summary", {"process.pid": reader.pid, "file.path": str(target)}))]
        assert counts == [100_000, 150_000], counts
    finally:
        reader.kill()
        reader.wait(timeout=30)


def test_failed_opens(monitor):
    # pytest's own tmp dirs are 0700: use one that `nobody` can traverse.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="ew-failed-opens-", dir="/tmp"))
    missing = tmp_path / "does-not-exist"
    secret = tmp_path / "secret"
    secret.write_text("s")
    os.chmod(secret, 0o600)
    script = (f"import os\nfor p in ({str(missing)!r}, {str(secret)!r}):\n"
              "    try:\n        open(p).close()\n    except OSError:\n        pass\n")
    # nobody cannot read root's 0600 file: EACCES
    os.chmod(tmp_path, 0o755)
    pid = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-c", script])
    enoent = monitor.wait_for(is_action("file-open", {"process.pid": pid, "file.path": str(missing)}),
                              WAIT_S, "ENOENT open")
    eacces = monitor.wait_for(is_action("file-open", {"process.pid": pid, "file.path": str(secret)}),
                              WAIT_S, "EACCES open")
    assert get(enoent, "exfilwatch.file.error") == "ENOENT"
    assert get(eacces, "exfilwatch.file.error") == "EACCES"
    shutil.rmtree(tmp_path)
