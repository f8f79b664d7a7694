"""Faults the monitor must survive, as README's Reliability section documents: its stdout closed
mid-stream (it stops, exits 0, says on stderr what it dropped); a flood behind a paused reader
(it keeps running and counts dropped lines); a full ring buffer (counted drops); SIGTERM/SIGINT
(clean stop, exit 0); SIGHUP (rules reloaded, or kept with an error)."""

import subprocess

from harness import paths


def test_stdout_closed_mid_stream():
    monitor = subprocess.Popen([str(paths.monitor_binary()), "--events", "all", "--stats-interval", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = monitor.stdout.readline()
        assert b'"monitor-started"' in first, first[:300]
        monitor.stdout.close()
        for _ in range(50):  # events to write into the closed pipe
            subprocess.run(["/bin/true"], check=True)
        rc = monitor.wait(timeout=20)
    finally:
        if monitor.poll() is None:
            monitor.kill()
    stderr = monitor.stderr.read().decode(errors="replace")
    assert rc == 0, stderr
    assert "output closed" in stderr and "dropping" in stderr, stderr


# --- signals, floods, a full ring buffer -------------------------------------------------------

import json
import os
import signal
import threading
import time
from datetime import datetime

import pytest

from harness import Monitor, wait_until
from harness.monitor import validate_ndjson
from harness.records import action, get, kind


def stats_of(record):
    return get(record, "exfilwatch.stats") or {}


def last_metric(records):
    metrics = [r for r in records if kind(r) == "metric"]
    assert metrics, "no metric record"
    return stats_of(metrics[-1])


class PipeReader:
    """Reads a child's stdout pipe on a thread once resumed; until then nobody reads it."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def resume(self):
        self.thread.start()

    def _read(self):
        while chunk := self.pipe.read1(1 << 16):
            self.data += chunk

    def records(self, timeout=30):
        self.thread.join(timeout)
        lines = bytes(self.data).split(b"\n")
        assert lines[-1] == b"", f"last line not newline-terminated: {lines[-1][:200]!r}"
        return [json.loads(line) for line in lines if line.strip()]


def read_until_started(process):
    line = process.stdout.readline()
    record = json.loads(line)
    assert action(record) == "monitor-started", line[:300]
    return record


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signals_end_the_run_cleanly(tmp_path, stop_signal):
    with Monitor(tmp_path, events="exec", extra_args=["--stats-interval", "0"]) as mon:
        os.kill(mon.pid, stop_signal)
        mon._process.wait(20)
        mon.stop()  # exit 0, monitor-stopped last, schemas
        assert get(mon.stopped_record, "event.reason") == signal.Signals(stop_signal).name
        metrics = [r for r in mon.records() if kind(r) == "metric"]
        assert len(metrics) == 1, "the final metric record, and only that one (--stats-interval 0)"


def test_flood_with_a_paused_reader_drops_and_counts_lines(tmp_path):
    """stdout is a pipe nobody reads while a producer opens many files: the monitor's loop keeps
    going (its health file stays fresh), lines are dropped and counted, and once the reader comes
    back the metric records say how many; then SIGTERM ends it cleanly."""
    health = tmp_path / "health"
    files = tmp_path / "flood"
    files.mkdir()
    count = 40000
    for i in range(count):
        (files / f"f{i:05d}").touch()
    monitor = subprocess.Popen([str(paths.monitor_binary()), "run", "--events", "file",
                                "--stats-interval", "1", "--health-file", str(health)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = PipeReader(monitor.stdout)
    try:
        read_until_started(monitor)
        # ~1 KiB of NDJSON per open: several times the sink's 8 MiB buffer and the pipe's 64 KiB
        producer = subprocess.run(
            [paths.PYTHON, "-c",
             "import os,sys\nd=sys.argv[1]\nfor n in sorted(os.listdir(d)):\n"
             "    os.close(os.open(os.path.join(d, n), os.O_RDONLY))\n", str(files)],
            check=True, timeout=120)
        assert producer.returncode == 0
        flooded = time.time()
        # the reader is still paused: the loop must still turn (it touches the health file
        # every second) and the monitor must still run
        for _ in range(3):
            wait_until(lambda: health.exists() and health.stat().st_mtime > flooded + 1, 10,
                       "the health file to be refreshed while the reader is paused (the loop is stuck)")
            assert monitor.poll() is None, "monitor exited while its reader was paused"
            flooded = time.time()
        reader.resume()
        # a periodic metric record, written once the reader is back, reports the drops
        wait_until(lambda: any(b'"output.dropped_lines":0' not in line and b'"output.dropped_lines"' in line
                               for line in bytes(reader.data).split(b"\n")[:-1]), 15,
                   "a metric record with output.dropped_lines > 0 while running")
        monitor.send_signal(signal.SIGTERM)
        rc = monitor.wait(timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait(10)
    stderr = monitor.stderr.read().decode(errors="replace")
    assert rc == 0, stderr
    records = reader.records()
    assert action(records[-1]) == "monitor-stopped" or action(records[-2]) == "monitor-stopped", \
        [action(r) for r in records[-3:]]
    stats = last_metric(records)
    dropped = stats["output.dropped_lines"]
    assert dropped > 0, stats
    # metric records written after the reader came back already said so
    assert any(stats_of(r).get("output.dropped_lines", 0) > 0 for r in records[:-2] if kind(r) == "metric")
    # every open is in the stream or counted as dropped (in the sink, or in the kernel)
    seen = {get(r, "file.path") for r in records if action(r) == "file-open"}
    seen_flood = sum(1 for p in seen if p and p.startswith(str(files) + "/"))
    kernel_drops = sum(v for k, v in stats.items() if k.startswith("kernel.drops_by_kind.file_open."))
    assert seen_flood < count, "no line was lost: the flood did not flood"
    assert seen_flood + dropped + kernel_drops >= count, (seen_flood, dropped, kernel_drops, stats)
    out = tmp_path / "flood.ndjson"
    out.write_bytes(bytes(reader.data))
    validate_ndjson(out)


def test_full_ring_buffer_is_counted(tmp_path):
    """A one-page ring buffer and a burst of execs between two polls: records that find it full
    are dropped in the kernel and counted, and the metric record says so."""
    with Monitor(tmp_path, events="exec", extra_args=["--ring-buffer-size", "4096",
                                                      "--stats-interval", "1"]) as mon:
        burst = 400
        script = tmp_path / "burst.sh"
        script.write_text(f"for i in $(seq {burst}); do /bin/true burst-marker; done\n")
        started = time.time()
        subprocess.run(["/bin/bash", str(script)], check=True, timeout=120)
        metric = mon.wait_for(lambda r: kind(r) == "metric" and
                              stats_of(r).get("kernel.drops.ringbuf_full", 0) > 0, timeout=20,
                              what="a metric record with kernel.drops.ringbuf_full > 0")
        assert time.time() - started < 120
    stats = last_metric(mon.records())
    drops = stats["kernel.drops.ringbuf_full"]
    seen = sum(1 for r in mon.records()
               if action(r) == "exec" and "burst-marker" in (get(r, "process.args") or []))
    assert 0 < drops and seen < burst, (seen, drops)
    # what is missing is accounted for: every lost exec is one of the counted drops
    assert seen + drops >= burst, (seen, drops)
    assert stats["kernel.records.exec"] >= burst, stats
    assert metric is not None


def test_ring_buffer_drops_while_a_key_is_held_are_a_blind_spot_record(tmp_path, fake_home):
    """Blinding is as loud as an alert: a process reads a fake key and stays alive, then a burst of
    execs overflows a one-page ring. The drops are a monitor-blind-spot record (cause
    ringbuf_full) that names the holder, validates against the schema and carries no key line."""
    key = fake_home.files[".ssh/id_ed25519"]
    holder_code = ("import sys, time\n"
                   "data = open(sys.argv[1], 'rb').read()\n"
                   "print(len(data), flush=True)\n"
                   "time.sleep(90)\n")
    script = tmp_path / "burst.sh"
    script.write_text("for i in $(seq 400); do /bin/true blind-burst; done\n")
    with Monitor(tmp_path / "mon", extra_args=["--ring-buffer-size", "4096", "--stats-interval", "1"]) as mon:
        holder = subprocess.Popen([str(paths.PYTHON), "-c", holder_code, str(key)], stdout=subprocess.PIPE)
        try:
            assert int(holder.stdout.readline()) > 0
            time.sleep(1.5)  # the read is decided before the flood (its record fits a quiet ring)
            subprocess.run(["/bin/bash", str(script)], check=True, timeout=120)  # overflows the ring
            spot = mon.wait_for(lambda r: action(r) == "monitor-blind-spot", timeout=10,
                                what="a monitor-blind-spot record")
        finally:
            holder.kill()
            holder.wait()
    assert kind(spot) == "alert", spot
    assert get(spot, "exfilwatch.blind_spot.cause") == "ringbuf_full", spot
    assert get(spot, "exfilwatch.blind_spot.lost") > 0, spot
    assert holder.pid in [p.get("pid") for p in get(spot, "exfilwatch.processes", [])], spot
    assert last_metric(mon.records())["output.blind_spots"] >= 1
    validate_ndjson(mon.output)
    text = mon.output.read_text(errors="replace")
    assert not [line for line in key.read_text().splitlines() if len(line) >= 16 and line in text]


def test_sighup_reloads_the_rules_file_and_keeps_them_when_bad(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(mode=0o755)
    rules = rules_dir / "rules.yaml"
    text = subprocess.run([str(paths.monitor_binary()), "rules", "dump"], check=True,
                          capture_output=True).stdout.decode()
    rules.write_text(text)
    rules.chmod(0o644)
    with Monitor(tmp_path / "mon", events="", extra_args=["--rules", str(rules),
                                                          "--stats-interval", "1"]) as mon:
        # a good file: reloaded, said in a rules-reloaded record
        rules.write_text(text.replace("alert_threshold: 60", "alert_threshold: 70", 1))
        os.kill(mon.pid, signal.SIGHUP)
        reloaded = mon.wait_for(lambda r: action(r) == "rules-reloaded", timeout=10,
                                what="rules-reloaded")
        assert get(reloaded, "exfilwatch.rules.source") == str(rules)
        # a bad file: the old rules stay, stderr says why with file:line:column
        rules.write_text(text.replace("alert_threshold: 60", "alert_threshold: lots", 1))
        os.kill(mon.pid, signal.SIGHUP)
        wait_until(lambda: "keeping the current rules" in mon.stderr_text(), 10, "the reload error")
        assert f"{rules}:" in mon.stderr_text() and "alert_threshold" in mon.stderr_text()
        # a file others could change: refused the same way
        rules.write_text(text)
        rules.chmod(0o666)
        os.kill(mon.pid, signal.SIGHUP)
        wait_until(lambda: "writable by everyone" in mon.stderr_text(), 10, "the refusal")
        mon.wait_for(lambda r: kind(r) == "metric" and
                     stats_of(r).get("rules.reload_errors") == 2 and stats_of(r).get("rules.reloads") == 1,
                     timeout=10, what="a metric record with 1 reload and 2 reload errors")
        assert mon.running()
        assert len([r for r in mon.records() if action(r) == "rules-reloaded"]) == 1


def test_sighup_rules_apply_to_what_comes_next(tmp_path, standin, fake_home):
    """The reloaded rules decide: an attack under a threshold of 100 stays silent, the next one
    after SIGHUP with the built-in threshold alerts."""
    from harness import ATTACKS, check_service_saw, execute, matching_alerts
    from harness.config import HTTPS_PORT

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(mode=0o755)
    rules = rules_dir / "rules.yaml"
    text = subprocess.run([str(paths.monitor_binary()), "rules", "dump"], check=True,
                          capture_output=True).stdout.decode()
    assert "alert_threshold: 60" in text
    # the first rules cannot alert on a paste site: the threshold at its top and the category's
    # weight at its bottom
    paste_weight = "subtechnique: T1567.003, weight: 25"
    assert paste_weight in text
    rules.write_text(text.replace("alert_threshold: 60", "alert_threshold: 100", 1)
                     .replace(paste_weight, "subtechnique: T1567.003, weight: -100", 1))
    rules.chmod(0o644)
    # an attack to a paste site under those rules, then one to a code host after the reload
    by_name = {a.name.split("-")[0]: a for a in ATTACKS}
    first, second = by_name["attack2"], by_name["attack4"]
    assert first.domain != second.domain
    with Monitor(tmp_path / "mon", extra_args=["--rules", str(rules)]) as mon:
        execute(first, fake_home, tmp_path / "first", HTTPS_PORT)
        check_service_saw(first, standin)
        mon.wait_for(lambda r: action(r) == "flow-summary" and get(r, "destination.domain") == first.domain,
                     timeout=20, what=f"the flow to {first.domain}")
        assert not [r for r in mon.records() if kind(r) == "alert"], "alerted under a threshold of 100"

        rules.write_text(text)
        os.kill(mon.pid, signal.SIGHUP)
        mon.wait_for(lambda r: action(r) == "rules-reloaded", timeout=10, what="rules-reloaded")
        execute(second, fake_home, tmp_path / "second", HTTPS_PORT)
        check_service_saw(second, standin)
        mon.poll_for(lambda r: bool(matching_alerts([r], second.technique, 60)), 20)
    records = mon.records()
    reloaded_at = next(i for i, r in enumerate(records) if action(r) == "rules-reloaded")
    # no alert before the reload; after it, decisions (the first attack's too, when its pair is
    # scored again) follow the new rules
    assert all(i > reloaded_at for i, r in enumerate(records) if kind(r) == "alert")
    found = matching_alerts(records[reloaded_at:], second.technique, 60)
    assert [a for a in found if get(a, "destination.domain") == second.domain], \
        [get(a, "destination.domain") for a in found]


def test_stop_signal_is_handled_within_a_second_under_a_storm(tmp_path):
    """An exec and open storm that does not stop: SIGTERM still ends the run within a second (the
    ring buffer is drained on a thread of its own in bounded drains, decisions take bounded
    slices, and the final drain is bounded in time and counts what it could not reach), with
    monitor-stopped, the final metrics and valid records."""
    files = tmp_path / "storm"
    files.mkdir()
    for i in range(2000):
        (files / f"f{i:04d}").touch()
    opener = ("import os,sys\nd=sys.argv[1]\nnames=[os.path.join(d,n) for n in os.listdir(d)]\n"
              "while True:\n    for n in names: os.close(os.open(n, os.O_RDONLY))\n")
    storm = [subprocess.Popen([paths.PYTHON, "-c", opener, str(files)]),
             subprocess.Popen(["/bin/sh", "-c", "while :; do /bin/true; done"])]
    try:
        with Monitor(tmp_path, events="all", extra_args=["--stats-interval", "1"]) as mon:
            time.sleep(3)  # the storm is on: records pile up faster than they are written
            assert all(p.poll() is None for p in storm)
            signalled, signalled_at = time.monotonic(), time.time()
            os.kill(mon.pid, signal.SIGTERM)
            mon._process.wait(20)
            took = time.monotonic() - signalled
            assert all(p.poll() is None for p in storm), "the storm ended before the monitor did"
            mon.stop()  # exit 0, monitor-stopped last, schemas
            assert get(mon.stopped_record, "event.reason") == "SIGTERM"
            stopped_at = datetime.fromisoformat(get(mon.stopped_record, "@timestamp").replace("Z", "+00:00"))
            handled = stopped_at.timestamp() - signalled_at
            stats = last_metric(mon.records())
            for counter in ("ringbuf.queue_dropped_records", "output.telemetry_shed",
                            "ringbuf.stop_unprocessed_records", "ringbuf.stop_unread_bytes"):
                assert counter in stats, (counter, stats)
            # The signal is handled within the second the issue asks: monitor-stopped is written
            # after the loop's last slice, the drain thread's last bounded drain, a final drain
            # of at most 0.3 s and the last summaries. The exit then waits for the kernel to
            # detach the programs (begun first, concurrently; a syscall tracepoint's detach waits
            # for RCU grace periods under a kernel mutex): 0.2 s on a quiet machine, up to about
            # 1.5 s on a loaded one, whatever the monitor's backlog.
            assert handled < 1.0, f"monitor-stopped came {handled:.2f} s after SIGTERM under load"
            assert took < 3.0, f"SIGTERM took {took:.2f} s to end the run under load"
    finally:
        for p in storm:
            p.kill()
            p.wait()
