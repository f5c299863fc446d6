"""Shared fixtures: every test gets its own data dir, DuckDB file and audit dir."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Workspace:
    root: Path
    data_dir: Path
    db_path: Path
    audit_dir: Path


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    data_dir = tmp_path / "data"
    audit_dir = tmp_path / "audit"
    data_dir.mkdir()
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("WORKBENCH_DB", str(data_dir / "workbench.duckdb"))
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(audit_dir))
    # Signed heads: the key and the heads file live outside data/ and audit/, and never in $HOME.
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(tmp_path / "keys" / "signing_key.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(tmp_path / "heads" / "heads.jsonl"))
    monkeypatch.delenv("WORKBENCH_LLM", raising=False)
    monkeypatch.delenv("WORKBENCH_SUBJECT_KEY", raising=False)
    return Workspace(tmp_path, data_dir, data_dir / "workbench.duckdb", audit_dir)


def pipeline_env(ws: Workspace, **extra) -> dict:
    """Environment for a run_pipeline.py subprocess confined to the workspace."""
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(ws.data_dir), WORKBENCH_DB=str(ws.db_path),
               WORKBENCH_AUDIT_DIR=str(ws.audit_dir), PYTHONUNBUFFERED="1",
               WORKBENCH_SIGNING_KEY_FILE=str(ws.root / "keys" / "signing_key.pem"),
               WORKBENCH_HEADS_FILE=str(ws.root / "heads" / "heads.jsonl"),
               # A few hundred customers cannot always lift a model over the quality floor; these
               # runs test the pipeline, and the floor has tests of its own (test_train_stage.py).
               WORKBENCH_MODEL_MIN_AUC="0")
    env.update({k: str(v) for k, v in extra.items()})
    return env
