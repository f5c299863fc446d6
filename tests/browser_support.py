"""What the browser tests share: Debian's chromium (skipped when absent, never installed by a
test), a free 127.0.0.1 port, starting Voilà the way `make dashboard` does, and the check that
the browser asked nothing of any other host."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium() -> str:
    """Debian's chromium binary, or a skip that says how to get it (`make setup` installs it)."""
    path = shutil.which("chromium")
    if not path:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); the browser tests need it")
    return path


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.3)
    return False


def dashboard_env(data_dir: Path, db_path: Path, audit_dir: Path, runtime: Path, **extra) -> dict:
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir), WORKBENCH_DB=str(db_path),
               WORKBENCH_AUDIT_DIR=str(audit_dir), JUPYTER_PATH=str(ROOT / "share" / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(runtime), PYTHONUNBUFFERED="1")
    for name in ("WORKBENCH_SUBJECT_KEY", "WORKBENCH_DASHBOARD_TOKEN"):
        env.pop(name, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def voila_command(port: int, ip: str = "127.0.0.1") -> list[str]:
    """Plain Voilà as a user might type it (voila.json in the project root supplies the rest)."""
    return [str(Path(sys.executable).parent / "voila"), "notebooks/dashboard.ipynb", "--no-browser",
            f"--port={port}", f"--Voila.ip={ip}"]


def launcher_command(port: int, ip: str = "127.0.0.1") -> list[str]:
    """What `make dashboard` runs."""
    return [sys.executable, "-m", "churn_workbench", "dashboard", "--ip", ip, "--port", str(port)]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def assert_only_local(requests: list[str]) -> None:
    remote = sorted({u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                     and urlparse(u).hostname not in LOCAL_HOSTS})
    assert not remote, f"the dashboard fetched from the internet: {remote[:5]}"
    assert requests, "no request was recorded at all"
