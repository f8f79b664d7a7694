"""The monitor under test: starts `exfilwatch run --events all`, waits for monitor-started, lets
tests wait on its NDJSON output, stops it with SIGINT and validates every line against schemas/."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from . import paths
from .records import action, kind, parse_line, summarize

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
POLL_INTERVAL_S = 0.05


def require_root():
    """The e2e layer loads real BPF: without root it fails, it never skips."""
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests load BPF programs and need root "
                    "(run `sudo make e2e`)", pytrace=False)


def require_binary(binary: Path):
    if not os.access(binary, os.X_OK):
        pytest.fail(f"monitor binary {binary} is missing or not executable; build it with "
                    "`make build` (or point EXFILWATCH_BIN at it)", pytrace=False)


def validate_ndjson(path: Path):
    """Every line of `path` against schemas/ through tests/tools/validate_ndjson.py."""
    script = paths.validator_script()
    if not script.exists():
        pytest.fail(f"schema validator {script} is missing: the e2e tests validate every "
                    "output line against schemas/ and cannot run without it", pytrace=False)
    done = subprocess.run([paths.PYTHON, str(script), str(path)], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"{path} does not validate against schemas/ "
                    f"(validate_ndjson.py exit {done.returncode}):\n{done.stdout[-4000:]}"
                    f"\n{done.stderr[-4000:]}", pytrace=False)


class Monitor:
    """`with Monitor(tmp_path) as mon:` — a running exfilwatch writing NDJSON to mon.output."""

    def __init__(self, workdir, extra_args=(), events="all", binary=None,
                 start_timeout=START_TIMEOUT_S, stop_timeout=STOP_TIMEOUT_S, name="monitor"):
        self.workdir = Path(workdir)
        self.binary = Path(binary) if binary else paths.monitor_binary()
        self.argv = [str(self.binary), "run"]
        if events:
            self.argv += ["--events", events]
        self.argv += list(extra_args)
        self.output = self.workdir / f"{name}.ndjson"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.started_record = None
        self.stopped_record = None
        self.returncode = None
        self._process = None
        self._records = []
        self._offset = 0
        self._partial = b""
        self._line_number = 0

    # lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
            return False
        try:
            self.stop()
        except BaseException as stop_error:  # keep the test's own failure as the headline
            exc.add_note(f"(stopping the monitor also failed: {stop_error})")
        return False

    def start(self):
        require_root()
        require_binary(self.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.output, "wb") as out, open(self.stderr_path, "wb") as err:
            self._process = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + self.start_timeout
        while True:
            for record in self._poll():
                if kind(record) == "state" and action(record) == "monitor-started":
                    self.started_record = record
                    return record
            if self._process.poll() is not None:
                self._fail_start(f"exited with code {self._process.returncode} before "
                                 "monitor-started")
            if time.monotonic() > deadline:
                self._kill()
                self._fail_start(f"no monitor-started record within {self.start_timeout:.0f} s")
            time.sleep(POLL_INTERVAL_S)

    def stop(self):
        """SIGINT, then a clean exit (code 0) with a final monitor-stopped record, then schema
        validation of the whole output. Idempotent."""
        if self._process is None or self.returncode is not None:
            return self.returncode
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            self.returncode = self._process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            self.returncode = self._process.returncode
            pytest.fail(f"monitor did not exit within {self.stop_timeout:.0f} s of SIGINT\n"
                        f"{self._stderr_tail()}", pytrace=False)
        self._poll(final=True)
        if self.returncode != 0:
            pytest.fail(f"monitor exited with code {self.returncode} after SIGINT (want 0)\n"
                        f"{self._stderr_tail()}", pytrace=False)
        stopped = [r for r in self._records
                   if kind(r) == "state" and action(r) == "monitor-stopped"]
        if not stopped:
            pytest.fail("monitor exited without a monitor-stopped record; last records:\n"
                        f"{summarize(self._records, 15)}\n{self._stderr_tail()}",
                        pytrace=False)
        # the final stats record may come before or after monitor-stopped; nothing else may
        after = self._records[self._records.index(stopped[-1]) + 1:]
        if any(kind(r) != "metric" for r in after):
            pytest.fail(f"records after monitor-stopped:\n{summarize(after)}", pytrace=False)
        self.stopped_record = stopped[-1]
        validate_ndjson(self.output)
        return self.returncode

    @property
    def pid(self):
        return self._process.pid if self._process else None

    def running(self):
        return self._process is not None and self._process.poll() is None

    # reading

    def records(self):
        """Every complete record written so far."""
        self._poll()
        return list(self._records)

    def poll_for(self, predicate, timeout=15.0):
        """First record satisfying predicate, or None at the deadline (or when the monitor
        has exited and its output holds none)."""
        deadline = time.monotonic() + timeout
        while True:
            alive = self.running()  # checked before reading, so a final write is not missed
            match = next((r for r in self.records() if predicate(r)), None)
            if match is not None or not alive or time.monotonic() > deadline:
                return match
            time.sleep(POLL_INTERVAL_S)

    def wait_for(self, predicate, timeout=15.0, what="a matching record"):
        """First record satisfying predicate, polling the output until the deadline."""
        return self.wait_for_all([predicate], timeout, [what])[0]

    def wait_for_all(self, predicates, timeout=15.0, whats=None):
        """For each predicate, the first record satisfying it; fails listing the missing ones."""
        whats = whats or [f"predicate #{i}" for i in range(len(predicates))]
        deadline = time.monotonic() + timeout
        while True:
            alive = self.running()
            records = self.records()
            found = [next((r for r in records if p(r)), None) for p in predicates]
            if all(f is not None for f in found):
                return found
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(POLL_INTERVAL_S)
        missing = [w for w, f in zip(whats, found) if f is None]
        state = "still running" if self.running() else f"exited ({self._process.returncode})"
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {', '.join(missing)} "
                    f"(monitor {state}); output {self.output}, recent records:\n"
                    f"{summarize(records)}\n{self._stderr_tail()}", pytrace=False)

    def find(self, predicate):
        return [r for r in self.records() if predicate(r)]

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # internals

    def _poll(self, final=False):
        """Parse lines appended since the last call; returns the new records."""
        new = []
        try:
            with open(self.output, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return new
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if final and self._partial.strip():
            pytest.fail(f"{self.output}: last line is not newline-terminated: "
                        f"{self._partial[:300]!r}", pytrace=False)
        for line in lines:
            self._line_number += 1
            if line.strip():
                record = parse_line(line, f"{self.output}:{self._line_number}")
                new.append(record)
        self._records.extend(new)
        return new

    def _kill(self):
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def _stderr_tail(self, limit=4000):
        text = self.stderr_text()
        return f"--- monitor stderr ({self.stderr_path}) ---\n{text[-limit:]}" if text else \
            "(monitor stderr empty)"

    def _fail_start(self, why):
        hint = ""
        if not paths.in_ci():
            hint = "\n(BPF load failures are failures here as in CI; the e2e layer never skips)"
        pytest.fail(f"monitor failed to start: {why}\n  argv: {' '.join(self.argv)}\n"
                    f"{self._stderr_tail()}{hint}", pytrace=False)


def replay(output_file, save_to=None, extra_args=(), binary=None, timeout=60):
    """`exfilwatch replay FILE`: returns (returncode, records, stderr); the raw output is
    written to save_to when given."""
    binary = Path(binary) if binary else paths.monitor_binary()
    require_binary(binary)
    done = subprocess.run([str(binary), "replay", str(output_file), *extra_args],
                          capture_output=True, timeout=timeout)
    if save_to is not None:
        Path(save_to).write_bytes(done.stdout)
    records = [parse_line(line, f"replay of {output_file}")
               for line in done.stdout.split(b"\n") if line.strip()]
    return done.returncode, records, done.stderr.decode(errors="replace")
