"""Private views of /etc for one command: a mount namespace (`unshare -m`) where /etc/hosts,
/etc/resolv.conf and /etc/nsswitch.conf are bind-mounted test files, so clients with no
--resolve option reach real service names on loopback. The command keeps its pid: unshare and
sh exec into it."""

import os
import shlex
import subprocess
from pathlib import Path

HOSTS_BASE = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"


def nsswitch_text(host_file="/etc/nsswitch.conf"):
    """The host's nsswitch.conf with its hosts line forced to `files dns`."""
    try:
        lines = Path(host_file).read_text().splitlines()
    except FileNotFoundError:
        lines = ["passwd: files", "group: files", "shadow: files"]
    out = [line for line in lines if not line.strip().startswith("hosts:")]
    out.append("hosts: files dns")
    return "\n".join(out) + "\n"


def bind_target(path):
    """Where to bind a replacement for `path`: the file itself, or (when it is a dangling
    symlink, e.g. to a stopped systemd-resolved) the directory its link points into."""
    real = os.path.realpath(path)
    if os.path.exists(real):
        return path, False
    parent = os.path.dirname(real)
    if os.path.isdir(parent):
        return parent, True
    raise RuntimeError(f"{path} points to {real}, which cannot be replaced in a mount namespace")


def namespace_argv(argv, files):
    """argv run in a private mount namespace with each target path in `files` (target → source
    file) replaced by a bind mount of the source."""
    steps = []
    for target, source in files.items():
        where, is_dir = bind_target(target)
        if is_dir:
            # dangling symlink: shadow its directory with one holding our file
            shadow = Path(source).parent / ("shadow" + where.replace("/", "_"))
            shadow.mkdir(exist_ok=True)
            (shadow / os.path.basename(os.path.realpath(target))).write_bytes(
                Path(source).read_bytes())
            steps.append(f"mount --bind {shlex.quote(str(shadow))} {shlex.quote(where)}")
        else:
            steps.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(where)}")
    script = " && ".join(steps + ['exec "$@"'])
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            *[str(a) for a in argv]]


class PrivateView:
    """A set of replaced /etc files; argv()/run() wrap commands into the namespace."""

    def __init__(self, files):
        self.files = dict(files)

    def argv(self, argv):
        return namespace_argv(argv, self.files)

    def run(self, argv, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(self.argv(argv), **kwargs)

    def popen(self, argv, **kwargs):
        return subprocess.Popen(self.argv(argv), **kwargs)

    def merged(self, other):
        files = dict(self.files)
        files.update(other.files)
        return PrivateView(files)


def hosts_file_text(mapping):
    if isinstance(mapping, dict):
        pairs = mapping.items()
    else:
        pairs = ((name, "127.0.0.1") for name in mapping)
    return HOSTS_BASE + "".join(f"{ip} {name}\n" for name, ip in pairs)


def private_hosts(mapping, workdir):
    """A view where /etc/hosts maps each name to 127.0.0.1 (a list of names) or to the given
    address (a dict name → ip), and name lookups go to files first."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    hosts = workdir / "hosts"
    hosts.write_text(hosts_file_text(mapping))
    nsswitch = workdir / "nsswitch.conf"
    nsswitch.write_text(nsswitch_text())
    return PrivateView({"/etc/hosts": hosts, "/etc/nsswitch.conf": nsswitch})


def private_resolver(nameserver, workdir):
    """A view whose resolv.conf points at `nameserver` and whose /etc/hosts knows only
    localhost, so every other name goes to that server."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    resolv = workdir / "resolv.conf"
    resolv.write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:2\n")
    hosts = workdir / "hosts"
    hosts.write_text(HOSTS_BASE)
    nsswitch = workdir / "nsswitch.conf"
    nsswitch.write_text(nsswitch_text())
    return PrivateView({"/etc/resolv.conf": resolv, "/etc/hosts": hosts,
                        "/etc/nsswitch.conf": nsswitch})
