"""The public detection scenarios against the real monitor: each attack must raise its
T1567 alert, each benign look-alike must stay silent once its traffic has been seen; and
replaying a live run's telemetry must give the same alerts."""

import pytest

from harness import (ALL, ATTACKS, alert_threshold, assert_alert, assert_silent,
                     check_service_saw, execute, get, is_alert, matching_alerts, replay,
                     summarize, validate_ndjson)

from harness.config import HTTPS_PORT

ALERT_TIMEOUT_S = 20.0
EVIDENCE_TIMEOUT_S = 20.0


def wait_for_evidence(monitor, scenario, standin):
    """The record that proves the monitor saw the scenario's activity: the flow to the stand-in
    service named after the scenario's domain, or (no network) the sensitive file's open."""
    if scenario.domain:
        def flow(record):
            return (get(record, "event.action") == "flow-summary"
                    and get(record, "destination.port") == HTTPS_PORT
                    and get(record, "process.pid") != standin.pid
                    and get(record, "destination.domain") == scenario.domain)
        return monitor.wait_for(flow, EVIDENCE_TIMEOUT_S,
                                f"a flow-summary to {scenario.domain}:{HTTPS_PORT}")

    def opened(record):
        return (get(record, "event.action") == "file-open"
                and str(get(record, "file.path", "")).endswith(scenario.evidence_file))
    return monitor.wait_for(opened, EVIDENCE_TIMEOUT_S, f"a file-open of *{scenario.evidence_file}")


def run_attack(scenario, monitor, standin, fake_home, tmp_path):
    threshold = alert_threshold()
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    monitor.poll_for(lambda r: bool(matching_alerts([r], scenario.technique, threshold)),
                     ALERT_TIMEOUT_S)
    monitor.stop()  # drains and flushes: an alert decided at stop counts too
    return assert_alert(monitor.records(), scenario.technique, threshold)


@pytest.mark.parametrize("scenario", ALL, ids=lambda s: s.name)
def test_scenario(scenario, monitor, standin, fake_home, tmp_path):
    if scenario.expect == "alert":
        found = run_attack(scenario, monitor, standin, fake_home, tmp_path)
        assert all(0 <= get(a, "event.risk_score") <= 100 for a in found)
        return
    execute(scenario, fake_home, tmp_path, HTTPS_PORT)
    check_service_saw(scenario, standin)
    wait_for_evidence(monitor, scenario, standin)
    monitor.stop()
    assert_silent(monitor.records())


def alert_key(record):
    def ids(path):
        value = get(record, path)
        return tuple(sorted(map(str, value if isinstance(value, list) else [value])))

    return (get(record, "rule.name"), get(record, "event.risk_score"),
            get(record, "destination.domain"), ids("threat.technique.id"),
            ids("threat.technique.subtechnique.id"))


def test_replay_equals_live(monitor, standin, fake_home, tmp_path):
    scenario = ATTACKS[0]
    run_attack(scenario, monitor, standin, fake_home, tmp_path)
    live = sorted(map(alert_key, filter(is_alert, monitor.records())), key=repr)

    replayed_file = tmp_path / "replayed.ndjson"
    returncode, records, stderr = replay(monitor.output, replayed_file)
    assert returncode == 0, f"exfilwatch replay exited {returncode}: {stderr}"
    validate_ndjson(replayed_file)
    replayed = sorted(map(alert_key, filter(is_alert, records)), key=repr)
    assert replayed == live, (f"replay alerts differ from live ones\nlive:\n"
                              f"{summarize(list(filter(is_alert, monitor.records())))}\n"
                              f"replay:\n{summarize(list(filter(is_alert, records)))}")
