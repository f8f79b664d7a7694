"""Fixtures for the container tests: dockerd (started here when it is not running, and stopped
again), the local images (scripts/docker-base-image --test: busybox and the monitor image from
the host build), and the end-to-end harness's stand-in service, fake HOME and monitor."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness import FakeHome, Monitor, StandInService, require_root  # noqa: E402
from harness import paths  # noqa: E402
from harness.config import HTTP_PORT, HTTPS_PORT  # noqa: E402

DOCKERD_START_S = 60
IMAGES_TIMEOUT_S = 600


@pytest.fixture(scope="session", autouse=True)
def _root():
    require_root()


def docker_answers():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    """A docker daemon that answers: the running one, or one started (and stopped) here."""
    for tool in ("docker", "dockerd"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run scripts/setup (installs docker.io)",
                        pytrace=False)
    if docker_answers():
        yield None
        return
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + DOCKERD_START_S
        while not docker_answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start (exit {daemon.poll()}); log {log_path}:\n"
                            f"{log_path.read_text(errors='replace')[-3000:]}", pytrace=False)
            time.sleep(0.5)
        yield daemon.pid
    finally:
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@pytest.fixture(scope="session")
def images(dockerd):
    """{"busybox": ..., "monitor": ...}: imported from busybox-static and from the host build
    (EXFILWATCH_BIN or build/exfilwatch) through scripts/image-rootfs; seconds, no registry.
    EXFILWATCH_IMAGE names an existing monitor image to test instead (e.g. `make image`'s)."""
    binary = paths.monitor_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: build the monitor first (make build)", pytrace=False)
    done = subprocess.run([str(paths.REPO / "scripts" / "docker-base-image"), "--test"],
                          capture_output=True, text=True, timeout=IMAGES_TIMEOUT_S,
                          env={**os.environ, "EXFILWATCH_BIN": str(binary)})
    if done.returncode != 0:
        pytest.fail(f"scripts/docker-base-image --test failed ({done.returncode}):\n"
                    f"{done.stderr[-3000:]}", pytrace=False)
    busybox, monitor = done.stdout.split()
    given = os.environ.get("EXFILWATCH_IMAGE")
    if given:
        if subprocess.run(["docker", "image", "inspect", given], capture_output=True).returncode:
            pytest.fail(f"EXFILWATCH_IMAGE={given} is not a local image", pytrace=False)
        monitor = given
    return {"busybox": busybox, "monitor": monitor}


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    with StandInService(tmp_path_factory.mktemp("standin"), https_port=HTTPS_PORT,
                        http_port=HTTP_PORT) as service:
        yield service


@pytest.fixture
def fake_home(tmp_path):
    return FakeHome(tmp_path / "home").create()


@pytest.fixture
def host_monitor(tmp_path, images, standin):
    """build/exfilwatch on the host, started after the images and the stand-in exist."""
    with Monitor(tmp_path / "monitor") as running:
        yield running
