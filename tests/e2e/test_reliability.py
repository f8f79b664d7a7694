"""Faults the monitor must survive: its stdout closed mid-stream. It stops by itself, exits 0
(as documented: a closed output ends the run) and says on stderr what it dropped."""

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
