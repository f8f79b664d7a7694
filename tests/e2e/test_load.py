"""Load: a storm of short loopback TCP connections while the monitor runs. It must not crash or
fall behind: every connection is counted in the kernel, nothing is dropped or undecodable, the
flow table empties again as the connections close (bounded, evictions counted), and the run stops
cleanly."""

import subprocess
import time

from harness import Monitor, paths
from harness.records import get, kind

CONNECTIONS = 3000

STORM = r"""
import socket, sys, threading
n = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(512)
port = server.getsockname()[1]
def serve():
    for _ in range(n):
        conn, _ = server.accept()
        conn.recv(256)
        conn.sendall(b"HTTP/1.0 204 No Content\r\n\r\n")
        conn.close()
thread = threading.Thread(target=serve)
thread.start()
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /%d HTTP/1.0\r\nHost: storm.test\r\n\r\n" % i)
    c.recv(256)
    c.close()
thread.join()
"""


def iso_timestamp(seconds):
    """The monitor's @timestamp format (RFC 3339, nanoseconds, UTC), so that strings compare."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1e9):09d}Z"


def stats_of(record):
    return get(record, "exfilwatch.stats") or {}


def test_connection_storm(tmp_path):
    with Monitor(tmp_path, events="", extra_args=["--stats-interval", "1"]) as mon:
        before = stats_of(mon.wait_for(lambda r: kind(r) == "metric", what="a first metric record"))
        started = time.monotonic()
        subprocess.run([paths.PYTHON, "-c", STORM, str(CONNECTIONS)], check=True, timeout=120)
        took = time.monotonic() - started
        assert took < 60, f"{CONNECTIONS} connections took {took:.0f} s"
        # A metric record stamped 1.5 s after the storm was written after at least one more poll
        # of the ring buffer (every 100 ms), so it covers every record of the storm.
        after = iso_timestamp(time.time() + 1.5)

        def settled(record):
            s = stats_of(record)
            return (kind(record) == "metric" and get(record, "@timestamp", "") > after and
                    s.get("flows.live", 1 << 30) < 500)

        stats = stats_of(mon.wait_for(settled, timeout=30,
                                      what="a metric record after the storm with the flow table drained"))
        assert mon.running()
    final = stats_of([r for r in mon.records() if kind(r) == "metric"][-1])
    for s in (stats, final):
        # client and server side of each connection: at least one flow each way was seen start
        assert s["kernel.records.flow_start"] - before["kernel.records.flow_start"] >= CONNECTIONS, s
        assert s["kernel.drops.ringbuf_full"] == before["kernel.drops.ringbuf_full"], s
        assert s["kernel.drops.flow_storage_full"] == 0 and s["decode.errors"] == 0, s
        assert s["output.dropped_lines"] == 0, s
        assert "flows.evicted" in s and s["flows.live"] + s["flows.evicted"] <= s["kernel.records.flow_start"], s
        assert s["kernel.records.flow_end"] - before["kernel.records.flow_end"] >= CONNECTIONS, s
        # every request head was captured and parsed: the storm named every flow
        parsed = s["flows.http_parsed"] - before["flows.http_parsed"]
        assert parsed >= CONNECTIONS, (parsed, {k: v for k, v in s.items() if "flow" in k or "kernel" in k})
