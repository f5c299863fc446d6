"""Every test runs in a home of its own: nothing it runs signs a head into the user's real
~/.local/state/churn-workbench/heads.jsonl or creates a key in their ~/.config (conftest.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_home_keys_and_heads_point_into_this_tests_own_folder(tmp_path_factory, _isolated_home):
    base = tmp_path_factory.getbasetemp()
    home = Path(os.environ["HOME"])
    assert home == _isolated_home and home.is_relative_to(base) and not any(home.iterdir())
    for name in ("WORKBENCH_SIGNING_KEY_FILE", "WORKBENCH_HEADS_FILE"):
        assert Path(os.environ[name]).is_relative_to(home), name


def test_the_defaults_fall_in_this_tests_home_too(monkeypatch):
    """A test (or the user's environment it copies) that drops the variables still stays in its home."""
    from churn_workbench import config
    monkeypatch.delenv("WORKBENCH_SIGNING_KEY_FILE")
    monkeypatch.delenv("WORKBENCH_HEADS_FILE")
    settings = config.load_settings()
    home = Path(os.environ["HOME"]).resolve()
    assert settings.signing_key_file.is_relative_to(home) and settings.heads_file.is_relative_to(home)


def test_a_process_a_test_starts_inherits_the_home():
    out = subprocess.run([sys.executable, "-c", "import os; print(os.path.expanduser('~')); "
                          "print(os.environ['WORKBENCH_HEADS_FILE'])"], capture_output=True, text=True, timeout=60)
    home, heads = out.stdout.split()
    assert home == os.environ["HOME"] and Path(heads).is_relative_to(home)
