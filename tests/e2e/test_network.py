"""Network telemetry against the real monitor, on loopback: TLS SNI from curl, Python and a
post-quantum ClientHello, exact upload byte counts, DNS-named flows, IPv6 and HTTP CONNECT."""

import os
import subprocess

import pytest

from harness import as_list, get, is_action, paths

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
