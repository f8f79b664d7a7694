"""A throw-away HOME holding fake secrets (the scenarios README's list): realistic formats,
random content, nothing real."""

import base64
import json
import os
import random
import string
import struct
from pathlib import Path

from . import paths


def _ssh_string(data):
    return struct.pack("!I", len(data)) + data


class FakeHome:
    """FakeHome(path).create() writes the files; .path is the HOME to use; .files maps a
    short name to its path."""

    def __init__(self, path, seed=1567):
        self.path = Path(path)
        self.random = random.Random(seed)
        self.files = {}

    def create(self):
        self.path.mkdir(parents=True, exist_ok=True)
        pub_key, private_key = self._ed25519_pair()
        self._write(".ssh/id_ed25519", private_key, 0o600)
        self._write(".ssh/id_ed25519.pub", pub_key, 0o644)
        self._write(".aws/credentials", self._aws_credentials(), 0o600)
        self._write(".aws/config", self._aws_config(), 0o644)
        self._write(".netrc", self._netrc(), 0o600)
        self._write(".docker/config.json", self._docker_config(), 0o600)
        self._write(".bash_history", self._bash_history(), 0o600)
        os.chmod(self.path / ".ssh", 0o700)
        return self

    def env(self, **extra):
        """Environment for a scenario: this HOME, Debian's PATH, C locale."""
        env = {"HOME": str(self.path), "PATH": paths.SCENARIO_PATH, "LANG": "C.UTF-8",
               "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash", "TERM": "dumb"}
        env.update(extra)
        return env

    # content

    def _write(self, relative, text, mode):
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        path.write_bytes(data)
        os.chmod(path, mode)
        self.files[relative] = path

    def _bytes(self, n):
        return bytes(self.random.getrandbits(8) for _ in range(n))

    def _token(self, n, alphabet=string.ascii_letters + string.digits):
        return "".join(self.random.choice(alphabet) for _ in range(n))

    def _ed25519_pair(self):
        """A well-formed OpenSSH ed25519 pair (ssh-keygen -lf accepts the .pub); random bytes,
        so not a usable key."""
        public = self._bytes(32)
        seed = self._bytes(32)
        key_type = b"ssh-ed25519"
        blob = _ssh_string(key_type) + _ssh_string(public)
        comment = b"dev@workstation"
        check = self._bytes(4)
        private = check + check + _ssh_string(key_type) + _ssh_string(public) + \
            _ssh_string(seed + public) + _ssh_string(comment)
        pad = 1
        while len(private) % 8:
            private += bytes([pad])
            pad += 1
        body = b"openssh-key-v1\0" + _ssh_string(b"none") + _ssh_string(b"none") + \
            _ssh_string(b"") + struct.pack("!I", 1) + _ssh_string(blob) + _ssh_string(private)
        encoded = base64.b64encode(body).decode()
        lines = [encoded[i:i + 70] for i in range(0, len(encoded), 70)]
        private_pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + \
            "\n-----END OPENSSH PRIVATE KEY-----\n"
        pub = f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment.decode()}\n"
        return pub, private_pem

    def _aws_credentials(self):
        out = []
        for profile in ["default"] + [f"project-{i}" for i in range(1, 24)]:
            key_id = self._token(16, string.ascii_uppercase + string.digits)
            secret = self._token(40, string.ascii_letters + string.digits + "/+")
            out.append(f"[{profile}]\naws_access_key_id = AKIA{key_id}\n"
                       f"aws_secret_access_key = {secret}\n"
                       f"aws_session_token = {self._token(64)}\n")
        return "\n".join(out)

    def _aws_config(self):
        regions = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"]
        out = []
        for profile in ["default"] + [f"profile project-{i}" for i in range(1, 40)]:
            out.append(f"[{profile}]\nregion = {self.random.choice(regions)}\noutput = json\n"
                       f"role_arn = arn:aws:iam::{self.random.randrange(10**11, 10**12)}:role/"
                       f"{self._token(12)}\n")
        return "\n".join(out)

    def _netrc(self):
        hosts = ["api.github.com", "gitlab.example.net", "registry.internal", "ftp.example.com",
                 "nexus.corp.example", "artifactory.example.org"]
        out = []
        for i in range(40):
            out.append(f"machine {self.random.choice(hosts).replace('.', f'{i}.', 1)}\n"
                       f"  login user{i}\n  password {self._token(32)}\n")
        return "".join(out)

    def _docker_config(self):
        auths = {}
        for i in range(24):
            user_pass = f"ci-bot-{i}:{self._token(36)}".encode()
            auths[f"registry{i}.example.com"] = {"auth": base64.b64encode(user_pass).decode()}
        return json.dumps({"auths": auths, "credsStore": "", "currentContext": "default"},
                          indent=2) + "\n"

    def _bash_history(self):
        commands = ["ls -la", "cd ~/src/app", "git status", "git pull --rebase", "make -j8",
                    "kubectl get pods -n prod", "vim config.yaml", "docker ps",
                    "ssh deploy@10.0.3.14", "export GITHUB_TOKEN=ghp_{}",
                    "mysql -u admin -p{} prod", "aws s3 ls", "htop", "tail -f /var/log/syslog"]
        out = []
        for _ in range(220):
            cmd = self.random.choice(commands)
            out.append(cmd.format(self._token(36)) if "{}" in cmd else cmd)
        return "\n".join(out) + "\n"
