"""Where the end-to-end harness finds the repository, the monitor binary and its helper tools."""

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
E2E_DIR = REPO / "tests" / "e2e"
TOOLS_DIR = E2E_DIR / "tools"

# Debian's interpreter, never a pyenv/virtualenv one found on PATH.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")

# Scenario commands run with Debian's tools only, whatever the caller's PATH holds.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SCENARIO_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def monitor_binary() -> Path:
    """EXFILWATCH_BIN overrides the default build/exfilwatch."""
    return Path(os.environ.get("EXFILWATCH_BIN", REPO / "build" / "exfilwatch"))


def validator_script() -> Path:
    return REPO / "tests" / "tools" / "validate_ndjson.py"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
