"""Network telemetry against the real monitor, on loopback: TLS SNI from curl, Python and a
post-quantum ClientHello, exact upload byte counts, DNS-named flows, IPv6 and HTTP CONNECT,
socket inodes, sockets older than the monitor, periodic summaries, io_uring, non-blocking
connect, TCP Fast Open and sendmmsg."""

import os
import socket
import subprocess
import time

import pytest

from harness import Monitor, as_list, get, is_action, paths

from harness.config import DNS_ADDRESS, DNS_NAME, HTTP_PORT, HTTPS_PORT, SINK_PORT

MiB = 1024 * 1024
HEADER_ALLOWANCE = 4096
WAIT_S = 20.0
CLIENT_TIMEOUT_S = 60


def payload(tmp_path, size, name="payload.bin"):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def run_client(argv, view=None):
    """Runs a client to completion; returns its pid (unchanged through the namespace wrapper)."""
    if view is not None:
        argv = view.argv(argv)
    process = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    out, err = process.communicate(timeout=CLIENT_TIMEOUT_S)
    assert process.returncode == 0, (f"{' '.join(map(str, argv))} exited {process.returncode}:"
                                     f"\n{err.decode(errors='replace')[-2000:]}")
    return process.pid


def client_hello(pid, sni):
    return is_action("tls-client-hello", {"process.pid": pid, "tls.client.server_name": sni})


def flow(pid, **fields):
    return is_action("flow-summary", {"process.pid": pid, **fields})


def at_least(n):
    return lambda value: isinstance(value, int) and value >= n


def test_curl_upload_sni_and_flow(monitor, tmp_path):
    data = payload(tmp_path, 300_000)
    pid = run_client(["curl", "-sk", "--resolve", f"pastebin.com:{HTTPS_PORT}:127.0.0.1",
                      "--data-binary", f"@{data}", f"https://pastebin.com:{HTTPS_PORT}/"])
    hello, summary = monitor.wait_for_all(
        [client_hello(pid, "pastebin.com"),
         flow(pid, **{"destination.domain": "pastebin.com",
                      "source.bytes": at_least(data.stat().st_size)})],
        WAIT_S, ["tls-client-hello with SNI pastebin.com", "flow-summary to pastebin.com"])
    assert get(hello, "process.name") == "curl"
    assert get(summary, "destination.ip") == "127.0.0.1"
    assert get(summary, "destination.port") == HTTPS_PORT


def test_python_ssl_client_sni(monitor):
    script = ("import socket,ssl; c=ssl._create_unverified_context(); "
              f"s=c.wrap_socket(socket.create_connection(('127.0.0.1',{HTTPS_PORT})), "
              "server_hostname='paste.rs'); "
              "s.sendall(b'GET /?size=100 HTTP/1.1\\r\\nHost: paste.rs\\r\\n"
              "Connection: close\\r\\n\\r\\n'); "
              "[None for _ in iter(lambda: s.recv(4096), b'')]")
    pid = run_client([paths.PYTHON, "-c", script])
    monitor.wait_for_all([client_hello(pid, "paste.rs"),
                          flow(pid, **{"destination.domain": "paste.rs"})],
                         WAIT_S, ["tls-client-hello with SNI paste.rs", "flow-summary"])


def test_curl_one_mib_upload_byte_count(monitor, tmp_path):
    data = payload(tmp_path, MiB)
    pid = run_client(["curl", "-s", "--resolve", f"pastebin.com:{HTTP_PORT}:127.0.0.1",
                      "--data-binary", f"@{data}", f"http://pastebin.com:{HTTP_PORT}/"])
    summary = monitor.wait_for(flow(pid, **{"source.bytes": at_least(MiB)}), WAIT_S,
                               "a flow-summary with the whole MiB sent")
    assert MiB <= get(summary, "source.bytes") < MiB + HEADER_ALLOWANCE


def test_sendfile_exact_byte_count(monitor, standin, tmp_path):
    data = payload(tmp_path, MiB)
    script = ("import socket,sys; s=socket.create_connection(('127.0.0.1',int(sys.argv[2]))); "
              "n=s.sendfile(open(sys.argv[1],'rb')); s.close(); assert n==int(sys.argv[3]), n")
    pid = run_client([paths.PYTHON, "-c", script, data, SINK_PORT, MiB])
    standin.wait_for_request(lambda r: r["kind"] == "sink" and r["body_bytes"] == MiB)
    # interim summaries may come first; the one with the totals must count every byte
    summary = monitor.wait_for(flow(pid, **{"destination.port": SINK_PORT,
                                            "source.bytes": MiB}), WAIT_S,
                               f"a flow-summary to port {SINK_PORT} with source.bytes == {MiB}")
    assert get(summary, "destination.ip") == "127.0.0.1"


def test_dns_answer_names_plain_http_flow(monitor, standin, resolver, tmp_path):
    view = resolver.view(tmp_path / "dnsview")
    pid = run_client(["curl", "-s", "-d", "x=1", f"http://{DNS_NAME}:{HTTP_PORT}/"], view)
    standin.wait_for_request(lambda r: r.get("listener") == f"http:{DNS_ADDRESS}:{HTTP_PORT}")

    def answer(record):
        return (get(record, "event.action") == "dns-answer"
                and get(record, "dns.question.name") == DNS_NAME
                and DNS_ADDRESS in as_list(get(record, "dns.resolved_ip")))

    _, summary = monitor.wait_for_all(
        [answer, flow(pid, **{"destination.ip": DNS_ADDRESS})], WAIT_S,
        [f"a dns-answer {DNS_NAME} -> {DNS_ADDRESS}", f"a flow-summary to {DNS_ADDRESS}"])
    assert get(summary, "destination.domain") == DNS_NAME
    assert get(summary, "destination.port") == HTTP_PORT


def test_ipv6_loopback_flow(monitor, tmp_path):
    data = payload(tmp_path, 50_000)
    pid = run_client(["curl", "-sk", "-g", "--resolve", f"pastebin.com:{HTTPS_PORT}:[::1]",
                      "--data-binary", f"@{data}", f"https://pastebin.com:{HTTPS_PORT}/"])
    _, summary = monitor.wait_for_all(
        [client_hello(pid, "pastebin.com"),
         flow(pid, **{"destination.ip": "::1", "source.bytes": at_least(50_000)})],
        WAIT_S, ["tls-client-hello over IPv6", "flow-summary to [::1]"])
    assert get(summary, "destination.domain") == "pastebin.com"
    assert get(summary, "destination.port") == HTTPS_PORT


def test_connect_through_proxy_names_the_flow(monitor, proxy, tmp_path):
    data = payload(tmp_path, 20_000)
    pid = run_client(["curl", "-sk", "-x", proxy.url, "--data-binary", f"@{data}",
                      f"https://pastebin.com:{HTTPS_PORT}/"])
    target = f"pastebin.com:{HTTPS_PORT}"

    def connect_request(record):
        return (get(record, "event.action") == "http-request"
                and get(record, "process.pid") == pid
                and (get(record, "exfilwatch.http.connect_target") == target
                     or get(record, "url.domain") == "pastebin.com"))

    proxy_port = int(proxy.listen.rsplit(":", 1)[1])
    monitor.wait_for_all(
        [connect_request,
         flow(pid, **{"destination.port": proxy_port, "destination.domain": "pastebin.com"})],
        WAIT_S, [f"an http-request CONNECT {target}", "a flow-summary named pastebin.com"])


PQ_TOOL = paths.TOOLS_DIR / "pq_client_hello.py"


@pytest.mark.parametrize("split", [[], ["--split", "700"], ["--record-split", "700"]],
                         ids=["one-segment", "split-700", "record-split-700"])
def test_post_quantum_client_hello_sni(monitor, standin, split):
    if not PQ_TOOL.exists():
        pytest.fail(f"{PQ_TOOL} is missing (written by the TLS parser engineer)", pytrace=False)
    pid = run_client([paths.PYTHON, PQ_TOOL, "--sni", "pastebin.com", *split,
                      f"127.0.0.1:{HTTPS_PORT}"])
    monitor.wait_for(client_hello(pid, "pastebin.com"), WAIT_S,
                     "tls-client-hello with SNI pastebin.com from the post-quantum ClientHello")


# Socket identity, sockets older than the monitor, periodic summaries, the kernel's TCP
# counters and the send paths with no plain send(2): io_uring, non-blocking connect, TCP Fast
# Open, sendmmsg.

HELD_CLIENT = paths.TOOLS_DIR / "held_client.py"


class HeldClient:
    """tools/held_client.py: a connection to the sink the test sends on, line by line."""

    def __init__(self, port=SINK_PORT):
        self.process = subprocess.Popen([paths.PYTHON, str(HELD_CLIENT), "127.0.0.1", str(port)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self.inode = int(self._answer("ready"))

    @property
    def pid(self):
        return self.process.pid

    def _answer(self, word):
        line = self.process.stdout.readline()
        if not line.startswith(word + " "):
            self.process.kill()
            raise AssertionError(f"held client said {line!r}, want {word}: "
                                 f"{self.process.stderr.read()[-2000:]}")
        return line.split()[1]

    def command(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return int(self._answer("ok"))

    def close(self):
        sent = self.command("close")
        assert self.process.wait(CLIENT_TIMEOUT_S) == 0
        return sent

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(CLIENT_TIMEOUT_S)


def test_connect_socket_inode_joins_proc_fd(monitor, standin):
    client = HeldClient()
    try:
        connect = monitor.wait_for(is_action("connect", {"process.pid": client.pid,
                                                         "destination.port": SINK_PORT}),
                                   WAIT_S, "a connect record of the held client")
        # the socket inode joins the client's fd table while the socket is open
        fds = {os.readlink(f"/proc/{client.pid}/fd/{fd}")
               for fd in os.listdir(f"/proc/{client.pid}/fd")}
        assert f"socket:[{get(connect, 'exfilwatch.flow.socket_inode')}]" in fds
        assert get(connect, "exfilwatch.flow.socket_inode") == str(client.inode)  # u64: a string
        assert get(connect, "exfilwatch.flow.adopted") is None
        client.command("send 1000")
        client.close()
    finally:
        client.kill()
    summary = monitor.wait_for(flow(client.pid, **{"exfilwatch.flow.final": True}), WAIT_S,
                               "the final flow-summary of the held client")
    assert get(summary, "exfilwatch.flow.socket_inode") == str(client.inode)
    assert get(summary, "source.bytes") == 1000


def test_socket_older_than_monitor_is_adopted(tmp_path, fake_home, standin):
    client = HeldClient()
    try:
        client.command("send 5000")  # before the monitor: not counted
        with Monitor(tmp_path / "monitor") as monitor:
            client.command("send 200000")
            client.close()
            standin.wait_for_request(lambda r: r["kind"] == "sink" and r["body_bytes"] == 205000)
            summary = monitor.wait_for(flow(client.pid, **{"exfilwatch.flow.final": True}),
                                       WAIT_S, "a final flow-summary naming the held client")
            connect = monitor.find(is_action("connect", {"process.pid": client.pid}))
    finally:
        client.kill()
    assert get(summary, "process.name").startswith("python3")
    assert get(summary, "exfilwatch.flow.adopted") is True
    assert get(summary, "exfilwatch.flow.socket_inode") == str(client.inode)
    assert get(summary, "source.bytes") == 200000  # only what was sent after the start
    # the kernel's own counter covers the connection's whole life
    assert get(summary, "exfilwatch.flow.tcp_bytes_acked") == 205000 + 2  # + SYN and FIN
    assert connect and get(connect[0], "exfilwatch.flow.adopted") is True


def test_periodic_summary_of_a_held_connection(monitor, standin):
    client = HeldClient()
    try:
        client.command("send 30000")
        time.sleep(1.2)  # past the one-second summary period, so the next packet reports
        client.command("send 40000")
        interim = monitor.wait_for(flow(client.pid, **{"exfilwatch.flow.final": False,
                                                       "source.bytes": at_least(30000)}),
                                   WAIT_S, "a periodic flow-summary of the open connection")
        assert client.process.poll() is None, "the connection was to be still open"
        assert get(interim, "event.type") == ["connection", "info"]
        assert get(interim, "exfilwatch.flow.tcp_bytes_acked") >= 30000
        client.close()
    finally:
        client.kill()
    final = monitor.wait_for(flow(client.pid, **{"exfilwatch.flow.final": True}), WAIT_S,
                             "the final flow-summary")
    assert get(final, "source.bytes") == 70000
    interims = monitor.find(flow(client.pid, **{"exfilwatch.flow.final": False}))
    counts = [get(r, "source.bytes") + get(r, "destination.bytes") for r in interims]
    assert counts == sorted(set(counts)), f"a periodic summary repeated unchanged counts: {counts}"


@pytest.fixture(scope="module")
def net_clients(c_tool):
    return c_tool("net_clients", "-luring")


def test_io_uring_upload_counted(monitor, standin, net_clients):
    size = 3 * MiB + 17
    pid = run_client([net_clients, "uring", "127.0.0.1", SINK_PORT, size])
    standin.wait_for_request(lambda r: r["kind"] == "sink" and r["body_bytes"] == size)
    summary = monitor.wait_for(flow(pid, **{"exfilwatch.flow.final": True}), WAIT_S,
                               "the final flow-summary of the io_uring client")
    assert get(summary, "process.name") == "net_clients"
    assert get(summary, "destination.port") == SINK_PORT
    assert get(summary, "source.bytes") >= size
    assert get(summary, "exfilwatch.flow.tcp_bytes_acked") == size + 2  # + SYN and FIN
    assert monitor.find(is_action("connect", {"process.pid": pid}))


def test_non_blocking_connect(monitor, standin):
    script = ("import errno,select,socket,sys; s=socket.socket(); s.setblocking(False); "
              "e=s.connect_ex(('127.0.0.1',int(sys.argv[1]))); "
              "assert e==errno.EINPROGRESS, e; select.select([],[s],[],10); "
              "assert s.getsockopt(socket.SOL_SOCKET,socket.SO_ERROR)==0; "
              "s.setblocking(True); s.sendall(b'n'*int(sys.argv[2])); s.close()")
    pid = run_client([paths.PYTHON, "-c", script, SINK_PORT, 123457])
    standin.wait_for_request(lambda r: r["kind"] == "sink" and r["body_bytes"] == 123457)
    _, summary = monitor.wait_for_all(
        [is_action("connect", {"process.pid": pid, "destination.port": SINK_PORT}),
         flow(pid, **{"exfilwatch.flow.final": True})],
        WAIT_S, ["a connect record", "the final flow-summary"])
    assert get(summary, "source.bytes") == 123457


# Runs in its own network namespace, so net.ipv4.tcp_fastopen (per namespace) is set there and
# never on the host: client and cookie-less server, data in the SYN, checked by TCP_INFO.
TFO_SCRIPT = r"""
import socket, struct, subprocess, sys, threading
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
open("/proc/sys/net/ipv4/tcp_fastopen", "w").write(str(0x1 | 0x2 | 0x4 | 0x200))
size = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
server.bind(("127.0.0.1", 0))
server.listen(4)
got = []
def serve():
    conn, _ = server.accept()
    n = 0
    while chunk := conn.recv(65536):
        n += len(chunk)
    got.append(n)
    conn.close()
thread = threading.Thread(target=serve)
thread.start()
client = socket.socket()
first = client.sendto(b"f" * 1000, socket.MSG_FASTOPEN, server.getsockname())
info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
assert info[5] & 0x20, "the SYN carried no data (TCPI_OPT_SYN_DATA unset)"
client.sendall(b"f" * (size - first))
client.shutdown(socket.SHUT_WR)
client.recv(1)
client.close()
thread.join(10)
assert got == [size], got
"""


def test_tcp_fast_open_connect_and_bytes(monitor):
    pid = run_client(["unshare", "-n", paths.PYTHON, "-c", TFO_SCRIPT, 50000])
    _, summary = monitor.wait_for_all(
        [is_action("connect", {"process.pid": pid}),
         flow(pid, **{"exfilwatch.flow.final": True, "network.transport": "tcp"})],
        WAIT_S, ["a connect record of the Fast Open client", "its final flow-summary"])
    assert get(summary, "source.bytes") == 50000
    # the server's accepted socket in the same process is never a flow of its own
    assert len(monitor.find(flow(pid, **{"exfilwatch.flow.final": True}))) == 1


def test_udp_sendmmsg_counted(monitor, net_clients):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receiver.bind(("127.0.0.1", 0))
    try:
        port = receiver.getsockname()[1]
        pid = run_client([net_clients, "sendmmsg", "127.0.0.1", port, 20, 1200])
        received = 0
        receiver.settimeout(5)
        while received < 20 * 1200:
            received += len(receiver.recv(65536))
    finally:
        receiver.close()
    summary = monitor.wait_for(flow(pid, **{"exfilwatch.flow.final": True,
                                            "network.transport": "udp"}), WAIT_S,
                               "the final UDP flow-summary of the sendmmsg client")
    assert get(summary, "source.bytes") == 20 * 1200
    assert get(summary, "destination.port") == port
    assert monitor.find(is_action("connect", {"process.pid": pid}))


def test_socket_connected_again_after_a_refused_connect_is_counted(monitor, standin):
    """A TCP socket whose connect was refused ends (TCP_CLOSE) and may connect again: the flow
    ended at the close is marked closed in the socket's storage (not deleted), and a new claim
    starts it over, so the second connection is a flow of its own with every byte counted."""
    sent = 12345
    script = ("import socket,sys\n"
              "t=socket.socket(); t.bind(('127.0.0.1',0)); closed=t.getsockname()[1]; t.close()\n"
              "s=socket.socket()\n"
              "try:\n    s.connect(('127.0.0.1',closed))\nexcept ConnectionRefusedError:\n    pass\n"
              "else:\n    sys.exit('the first connect was not refused')\n"
              "s.connect(('127.0.0.1',int(sys.argv[1]))); s.sendall(b'x'*int(sys.argv[2])); s.close()\n")
    pid = run_client([paths.PYTHON, "-c", script, SINK_PORT, sent])
    standin.wait_for_request(lambda r: r["kind"] == "sink" and r["body_bytes"] == sent)
    summary = monitor.wait_for(flow(pid, **{"destination.port": SINK_PORT, "source.bytes": sent,
                                            "exfilwatch.flow.final": True}), WAIT_S,
                               f"a final flow-summary to port {SINK_PORT} with source.bytes == {sent}")
    assert get(summary, "exfilwatch.flow.adopted") in (None, False)
