"""The kernel side under stress and its contract with userspace: programs that nest on one CPU
(cgroup_skb in softirq over a tracepoint program) never corrupt each other's records, and the
kernel's own counters reconcile with what userspace read."""

import os
import signal
import socket
import subprocess
import threading
import time

from harness import get
from harness.monitor import Monitor
from harness.records import action, kind

PY = "/usr/bin/python3"


def stats_of(record):
    return get(record, "exfilwatch.stats") or {}


def last_metric(records):
    metrics = [r for r in records if kind(r) == "metric"]
    assert metrics, "no metric record"
    return stats_of(metrics[-1])


# DNS ping-pong in a network namespace of its own, with receive packet steering on its loopback:
# a packet sent on one CPU is queued to the other and an IPI raises the receive softirq there, so
# the ingress program (a DNS capture) runs at the exit of that interrupt, over whatever program
# the CPU was running — the nesting the scratch slots exist for. (Without RPS, loopback softirqs
# run at the sender's own bh-enable and seldom nest.) Prints the number of answers served.
FLOOD = r"""
import os, socket, struct, subprocess, sys, threading, time
seconds, clients, padding, per_client = (float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                         int(sys.argv[4]))
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
ncpu = os.cpu_count() or 1
with open("/sys/class/net/lo/queues/rx-0/rps_cpus", "w") as f:
    f.write(format((1 << ncpu) - 1, "x"))
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.53", 53))
server.settimeout(0.2)
answers = 0
def serve():
    global answers
    head = struct.pack("!HHHHH", 0x8180, 0, 0, 0, 0) + b"\0" * padding
    end = time.time() + seconds + 2
    while time.time() < end:
        try:
            data, peer = server.recvfrom(4096)
        except socket.timeout:
            continue
        server.sendto(data[:2] + head, peer)
        answers += 1
thread = threading.Thread(target=serve)
thread.start()
name = b"\x06stress\x07example\x00"
query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
def client():
    # many sockets, each asking in turn: a per-socket limit does not end the flood
    socks = []
    for _ in range(per_client):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        s.connect(("127.0.0.53", 53))
        socks.append(s)
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        s = socks[i % len(socks)]
        i += 1
        s.send(query)
        try:
            s.recv(8192)
        except socket.timeout:
            pass
    os._exit(0)
kids = []
for _ in range(clients):
    pid = os.fork()
    if pid == 0:
        client()
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
thread.join()
print(answers, flush=True)
"""


class DnsFlood:
    """`with DnsFlood(seconds) as flood:` ... `flood.answers` once it is over."""

    def __init__(self, seconds=60, clients=4, padding=3000, sockets=32):
        self.argv = ["unshare", "--net", "--mount", "sh", "-c",
                     "mount -t sysfs sysfs /sys && exec \"$0\" -c \"$1\" \"$2\" \"$3\" \"$4\" \"$5\"",
                     PY, FLOOD, str(seconds), str(clients), str(padding), str(sockets)]
        self.answers = 0

    def __enter__(self):
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self

    def stop(self):
        self.process.send_signal(signal.SIGTERM)

    def __exit__(self, *exc):
        try:
            out, err = self.process.communicate(timeout=90)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        assert self.process.returncode == 0, err.decode(errors="replace")[-2000:]
        self.answers = int(out.decode().split()[-1])
        return False


def test_dns_flood_over_exec_and_open_storm_corrupts_no_record(tmp_path):
    """A flood of DNS answers on loopback (captured in softirq) while an exec storm and an open
    storm run on the same two CPUs: every decoded executable, argv and path is exactly what ran;
    what is missing is accounted for by the kernel's drop counters."""
    storm = tmp_path / "storm-dir-with-a-long-name-so-the-walk-writes-many-bytes"
    storm.mkdir()
    execs, opens = 1500, 3000
    for i in range(opens):
        (storm / f"file-{i:05d}").touch()
    exec_script = tmp_path / "execs.sh"
    exec_script.write_text(f"for i in $(seq {execs}); do /usr/bin/true nest-marker-$i "
                           "argument-that-is-long-enough-to-be-overwritten-by-a-dns-answer; done\n")
    # relative opens: the path walk of the cwd writes into the scratch slot too
    open_code = ("import os,sys\nos.chdir(sys.argv[1])\n"
                 "for n in sorted(os.listdir('.')):\n"
                 "    os.close(os.open(n, os.O_RDONLY))\n"
                 "    os.close(os.open(os.path.join(sys.argv[1], n), os.O_RDONLY|os.O_APPEND|os.O_WRONLY))\n")
    with Monitor(tmp_path / "mon", events="exec,file", extra_args=["--stats-interval", "1"]) as mon:
        with DnsFlood(seconds=25) as flood:
            time.sleep(1)
            opener = subprocess.Popen([PY, "-c", open_code, str(storm)])
            subprocess.run(["/bin/bash", str(exec_script)], check=True, timeout=300)
            assert opener.wait(300) == 0
        answers = flood.answers
        time.sleep(2)
        mon.wait_for(lambda r: kind(r) == "metric" and
                     stats_of(r).get("kernel.records.flow_data", 0) > 0, 20,
                     "a metric record counting the DNS captures")
    records = mon.records()
    stats = last_metric(records)
    assert answers > 5000, f"the flood was too thin to stress anything: {answers} answers"
    assert stats["kernel.records.flow_data"] > 5000, stats

    bad = []
    exec_seen = set()
    for r in records:
        if action(r) != "exec":
            continue
        args = get(r, "process.args") or []
        if get(r, "process.executable") == "/usr/bin/true" or any("nest-marker" in a for a in args):
            if (len(args) != 3 or args[0] != "/usr/bin/true" or not args[1].startswith("nest-marker-")
                    or args[2] != "argument-that-is-long-enough-to-be-overwritten-by-a-dns-answer"
                    or get(r, "process.executable") != "/usr/bin/true"):
                bad.append(("exec", get(r, "process.executable"), args))
            else:
                exec_seen.add(args[1])
    expected_paths = {str(storm / f"file-{i:05d}") for i in range(opens)} | {str(storm)}
    open_seen = set()
    for r in records:
        if action(r) != "file-open":
            continue
        path = get(r, "file.path") or ""
        if "storm-dir-with" in path:
            if path not in expected_paths:
                bad.append(("open", path))
            else:
                open_seen.add(path)
    nested = stats.get("kernel.stats.scratch_nested")
    assert not bad, f"{len(bad)} corrupted records (nested scratch takes: {nested}), e.g. {bad[:5]}"
    drops = sum(v for k, v in stats.items() if k.startswith("kernel.drops."))
    assert len(exec_seen) + drops >= execs, (len(exec_seen), stats)
    assert len(open_seen) + drops >= opens, (len(open_seen), stats)
    assert len(exec_seen) > execs // 2 and len(open_seen) > opens // 2, (len(exec_seen), len(open_seen))


def test_kernel_record_counters_reconcile_with_what_userspace_read(tmp_path):
    """Every record the kernel offered to the ring buffer (kernel.records.<kind>, every kind) was
    read by userspace (ringbuf.records_read, decode.errors) or refused by a full ring
    (kernel.drops.ringbuf_full), in a live run that makes every kind: exec, fork, exit, opens, a
    read through an inherited fd (file_first_read), a held TCP connection (flow_start, periodic
    flow_update, flow_end) and DNS answers (flow_data)."""
    data = tmp_path / "inherited.txt"
    data.write_bytes(b"x" * 10000)
    server = subprocess.Popen([PY, "-c", (
        "import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        "s.bind(('127.0.0.1',0));s.listen(1);print(s.getsockname()[1],flush=True)\n"
        "c,_=s.accept()\nwhile c.recv(65536): pass\n")], stdout=subprocess.PIPE)
    port = int(server.stdout.readline())
    with Monitor(tmp_path / "mon", events="exec,file", extra_args=["--stats-interval", "0"]) as mon:
        with open(data, "rb") as stdin:  # opened here, read by cat: a first read for cat
            subprocess.run(["/usr/bin/cat"], stdin=stdin, stdout=subprocess.DEVNULL, check=True)
        held = subprocess.run([PY, "-c", (
            "import socket,time\n"
            f"s=socket.create_connection(('127.0.0.1',{port}))\n"
            "for _ in range(8):\n    s.sendall(b'y'*1000); time.sleep(0.4)\ns.close()\n")], check=True)
        assert held.returncode == 0
        with DnsFlood(seconds=1, clients=1) as flood:
            pass
        assert flood.answers > 0
        time.sleep(1)
    server.wait(10)
    stats = last_metric(mon.records())
    kinds = ["exec", "fork", "exit", "file_open", "file_first_read", "flow_start", "flow_data",
             "flow_end", "flow_update"]
    for name in kinds:
        assert stats.get(f"kernel.records.{name}", 0) > 0, (name, stats)
    assert stats["kernel.stats.file_read_bytes"] >= 10000, stats  # cat's read, at least
    offered = sum(v for k, v in stats.items() if k.startswith("kernel.records."))
    accounted = stats["ringbuf.records_read"] + stats["decode.errors"] + stats["kernel.drops.ringbuf_full"]
    # the final metric is read right after the last drain: only records other processes made
    # in between (other monitors' test traffic shares the host) can be offered and not read yet
    assert accounted <= offered <= accounted + max(50, offered // 100), (offered, accounted, stats)


UNAME_SHIM = r"""
#define _GNU_SOURCE
#include <string.h>
#include <sys/utsname.h>
#include <dlfcn.h>
int uname(struct utsname *buf)
{
    int (*real)(struct utsname *) = (int (*)(struct utsname *))dlsym(RTLD_NEXT, "uname");
    int rc = real(buf);
    strcpy(buf->release, "5.15.0-91-generic");
    return rc;
}
"""


def test_a_kernel_older_than_6_2_is_one_line_and_exit_2(tmp_path):
    """The minimum kernel is probed at start: on a kernel that says it is 5.15 (uname answered by
    an LD_PRELOAD shim) run exits 2 with one line naming the kernel and the minimum."""
    source = tmp_path / "uname_shim.c"
    source.write_text(UNAME_SHIM)
    shim = tmp_path / "uname_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"], check=True)
    from harness import paths
    done = subprocess.run([str(paths.monitor_binary()), "run", "--duration", "1"], capture_output=True,
                          env={**os.environ, "LD_PRELOAD": str(shim)}, timeout=30)
    err = done.stderr.decode()
    assert done.returncode == 2, (done.returncode, err)
    assert err.count("\n") == 1 and "5.15.0-91-generic is too old" in err and "Linux 6.2" in err, err
    assert done.stdout == b"", done.stdout[:300]


# Forged DNS answers: from port 53 to a UDP socket that never sent a query, 4 KiB each, as fast
# as two senders go, in a network namespace of their own (the cgroup hooks see it all the same).
FORGER = r"""
import os, socket, sys, time
seconds = float(sys.argv[1])
os.system("ip link set lo up")
victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
victim.bind(("127.0.0.1", 5300))
victim.setblocking(False)
answer = bytes.fromhex("abcd81800001000100000000") + b"\xff" * 4084
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", 53))
        sent, end = 0, time.time() + seconds
        while time.time() < end:
            try:
                s.sendto(answer, ("127.0.0.1", 5300))
                sent += 1
            except OSError:
                pass
        os.write(1, f"{sent}\n".encode())
        os._exit(0)
    kids.append(pid)
end = time.time() + seconds + 1
while time.time() < end:  # drain, so the victim's buffer never refuses the forged answers
    try:
        victim.recv(8192)
    except BlockingIOError:
        time.sleep(0.0005)
for pid in kids:
    os.waitpid(pid, 0)
"""


def test_forged_dns_flood_is_not_copied_and_the_upload_still_alerts(tmp_path, fake_home, standin):
    """A flood of forged 4 KiB DNS answers (from port 53 to a socket that sent no query) while a
    key is uploaded: the upload alerts, the forged answers are counted as dns_unsolicited and not
    copied to userspace, and no exec or open record is lost to a full ring buffer."""
    from harness import ATTACKS, alert_threshold, assert_alert, execute
    from harness.config import HTTPS_PORT
    scenario = next(s for s in ATTACKS if s.domain)
    with Monitor(tmp_path / "mon", extra_args=["--stats-interval", "1"]) as mon:
        before = stats_of(mon.wait_for(lambda r: kind(r) == "metric", 10, "a first metric record"))
        forger = subprocess.Popen(["unshare", "--net", PY, "-c", FORGER, "12"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)  # the flood is on before the attack starts, and lasts past it
        execute(scenario, fake_home, tmp_path, HTTPS_PORT)
        out, err = forger.communicate(timeout=60)
        assert forger.returncode == 0, err.decode(errors="replace")[-2000:]
        sent = sum(int(n) for n in out.split())
        mon.poll_for(lambda r: False, 2)
        mon.stop()
    records = mon.records()
    assert_alert(records, scenario.technique, alert_threshold())
    stats = last_metric(records)
    assert sent > 20000, f"the flood was too thin: {sent} forged answers"
    unsolicited = stats["kernel.drops.dns_unsolicited"] - before.get("kernel.drops.dns_unsolicited", 0)
    copied = stats["kernel.records.flow_data"] - before["kernel.records.flow_data"]
    # every forged answer that reached the socket met the hook (loopback may drop some earlier)
    assert unsolicited >= sent // 2, (unsolicited, sent, stats)
    assert copied < sent // 100, (copied, sent)  # the upload's own heads, other DNS on the host
    lost = {k: v for k, v in stats.items()
            if k.startswith(("kernel.drops_by_kind.exec.", "kernel.drops_by_kind.file_open.ringbuf",
                             "kernel.drops_by_kind.flow_start.", "kernel.drops_by_kind.flow_end."))}
    assert not any(lost.values()), lost


def test_answers_to_one_socket_are_copied_at_most_at_its_rate(tmp_path):
    """A socket that asks and is answered as fast as loopback goes (a local process gaming the
    'sent a query' rule): its answers are copied up to the per-socket rate (64 a second), the
    rest counted as capture_rate drops."""
    with Monitor(tmp_path / "mon", events="", extra_args=["--stats-interval", "1"]) as mon:
        before = stats_of(mon.wait_for(lambda r: kind(r) == "metric", 10, "a first metric record"))
        with DnsFlood(seconds=3, clients=1, padding=100, sockets=1) as flood:
            pass
        mon.poll_for(lambda r: False, 1.5)
    stats = last_metric(mon.records())
    limited = stats["kernel.drops_by_kind.flow_data.capture_rate"] - \
        before.get("kernel.drops_by_kind.flow_data.capture_rate", 0)
    copied = stats["kernel.records.flow_data"] - before["kernel.records.flow_data"]
    assert flood.answers > 2000, flood.answers
    assert limited >= flood.answers - 5 * 64, (limited, flood.answers, stats)
    assert copied <= 5 * 64 + 200, (copied, flood.answers)  # 4-5 windows of 64, other traffic


def test_a_close_with_unread_data_is_one_flow_not_an_adopted_second(tmp_path):
    """A client that exits with the server's bytes unread (what a Go client does with its
    keep-alive connection): tcp_close moves the socket to CLOSE, then sends a RST while the
    process still holds the file. That RST must not be adopted as a new, ownerless flow (nor
    count a flow_storage_full): one connect and one flow-summary per connection."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    client = ("import socket,sys,time\n"
              f"s=socket.create_connection(('127.0.0.1',{port}))\n"
              "print(s.getsockname()[1],flush=True)\ns.sendall(b'hi')\ntime.sleep(0.3)\n")
    sports = []
    with Monitor(tmp_path / "mon", events="connect,flow", extra_args=["--stats-interval", "1"]) as mon:
        before = stats_of(mon.wait_for(lambda r: kind(r) == "metric", 10, "a first metric record"))
        for _ in range(5):
            p = subprocess.Popen([PY, "-c", client], stdout=subprocess.PIPE)
            conn, _ = srv.accept()
            sports.append(int(p.stdout.readline()))
            conn.sendall(b"x" * 100)  # never read by the client
            assert p.wait(10) == 0
            conn.close()
        mon.wait_for(lambda r: action(r) == "flow-summary" and get(r, "source.port") == sports[-1], 10,
                     "the last connection's flow-summary")
        mon.poll_for(lambda r: False, 1.5)
    srv.close()
    records = mon.records()
    stats = last_metric(records)
    for sport in sports:
        connects = [r for r in records if action(r) == "connect" and get(r, "source.port") == sport
                    and get(r, "destination.port") == port]
        assert len(connects) == 1, [(get(r, "process.pid"), get(r, "@timestamp")) for r in connects]
        assert get(connects[0], "process.pid") != 0
    assert stats["kernel.drops.flow_storage_full"] == before["kernel.drops.flow_storage_full"], stats
