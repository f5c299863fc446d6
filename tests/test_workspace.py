"""Fast checks of issue 14's building blocks: one workspace per database, hints that work as
printed, images embedded in what notebooks show."""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from churn_workbench import cli, config
from churn_workbench.embed import markdown_images_inline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_workbench_env(monkeypatch):
    for f in config.knobs():
        monkeypatch.delenv(f.metadata["env"], raising=False)


def test_a_database_elsewhere_keeps_everything_in_its_folder(no_workbench_env, tmp_path):
    s = config.load_settings(db_path=str(tmp_path / "ws" / "x.duckdb"))
    assert s.data_dir == tmp_path / "ws"
    assert s.audit_dir == tmp_path / "ws" / "audit"
    assert s.subject_key_file == tmp_path / "ws" / ".subject_key"


def test_the_default_workspace_is_unchanged(no_workbench_env):
    s = config.load_settings()
    assert s.db_path == config.DEFAULT_DATA_DIR / "workbench.duckdb"
    assert s.audit_dir == config.PROJECT_ROOT / "audit"
    assert config.load_settings(db_path=str(config.DEFAULT_DATA_DIR / "workbench.duckdb")).audit_dir == s.audit_dir


def test_explicit_settings_win_over_derived_ones(no_workbench_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "a"))
    s = config.load_settings(db_path=str(tmp_path / "ws" / "x.duckdb"))
    assert s.audit_dir == tmp_path / "a" and s.data_dir == tmp_path / "ws"


def test_hints_name_the_running_interpreter_and_carry_db(monkeypatch):
    monkeypatch.setattr(sys, "executable", str(ROOT / ".venv" / "bin" / "python"))
    assert cli.command("verify") == ".venv/bin/python run_pipeline.py verify"
    assert cli.resume_command("R1", "/tmp/my db/x.duckdb") == \
        ".venv/bin/python run_pipeline.py --resume R1 --db '/tmp/my db/x.duckdb'"
    assert cli.command("verify", db=str(ROOT / "data" / "w.duckdb")).endswith("verify --db data/w.duckdb")
    monkeypatch.setattr(sys, "executable", "/opt/elsewhere/bin/python3")
    assert cli.command("verify").startswith("/opt/elsewhere/bin/python3 run_pipeline.py")


def test_model_card_images_are_embedded(tmp_path):
    png = b"\x89PNG\r\n\x1a\nfake"
    (tmp_path / "roc.png").write_bytes(png)
    text = "# Card\n![ROC curve](roc.png) ![gone](missing.png) ![remote](https://example.com/x.png)"
    out = markdown_images_inline(text, tmp_path)
    assert f"![ROC curve](data:image/png;base64,{base64.b64encode(png).decode()})" in out
    assert "![gone](missing.png)" in out and "![remote](https://example.com/x.png)" in out
