"""Fixtures for the end-to-end layer: root check, the stand-in service, proxy and resolver (one
per session), and per test a fake HOME and a running monitor (started after both exist)."""

import subprocess

import pytest

from harness import ConnectProxy, FakeHome, Monitor, Resolver, StandInService, paths, require_root
from harness.config import (DNS_ADDRESS, DNS_NAME, HTTP_PORT, HTTPS_PORT, PROXY_LISTEN,
                            RESOLVER_ADDRESS, SINK_PORT)


@pytest.fixture(scope="session", autouse=True)
def _root():
    """First of all fixtures, so a run without root fails with one clear message."""
    require_root()


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    service = StandInService(tmp_path_factory.mktemp("standin"), https_port=HTTPS_PORT,
                             http_port=HTTP_PORT,
                             extra=[("http", DNS_ADDRESS, HTTP_PORT),
                                    ("sink", "127.0.0.1", SINK_PORT)])
    with service:
        yield service


@pytest.fixture(scope="session")
def proxy(tmp_path_factory):
    with ConnectProxy(tmp_path_factory.mktemp("proxy"), listen=PROXY_LISTEN,
                      names={DNS_NAME: "127.0.0.1"}) as running:
        yield running


@pytest.fixture(scope="session")
def resolver(tmp_path_factory):
    with Resolver(tmp_path_factory.mktemp("resolver"), {DNS_NAME: DNS_ADDRESS},
                  listen=RESOLVER_ADDRESS) as running:
        yield running


@pytest.fixture(scope="session")
def c_tool(tmp_path_factory):
    """Builds a helper of tests/e2e/tools: c_tool("uring_read", "-luring") compiles uring_read.c
    (linked with the libraries given) once per session and returns the binary's path."""
    built = {}

    def build(name, *libraries):
        if name not in built:
            source = paths.TOOLS_DIR / f"{name}.c"
            binary = tmp_path_factory.mktemp(name) / name
            done = subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source), *libraries],
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                hint = " (liburing-dev comes with scripts/setup)" if "-luring" in libraries else ""
                pytest.fail(f"cannot compile {source}{hint}:\n{done.stderr[-3000:]}", pytrace=False)
            built[name] = binary
        return built[name]

    return build


@pytest.fixture(scope="session")
def handle_open(c_tool):
    """tests/e2e/tools/handle_open.c: opens a file by name_to_handle_at/open_by_handle_at."""
    return c_tool("handle_open")


@pytest.fixture
def fake_home(tmp_path):
    return FakeHome(tmp_path / "home").create()


@pytest.fixture
def monitor(tmp_path, fake_home, standin):
    """A monitor per test, started after the fake HOME is written and the stand-in serves, so
    neither setup step is part of what it watches."""
    with Monitor(tmp_path / "monitor") as running:
        yield running
