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
               # A few hundred customers cannot always lift a model over the quality floor, and some
               # runs use tables below the size a model is trained from; these runs test the pipeline,
               # and the floor and the minimum have tests of their own (test_model_gate.py).
               WORKBENCH_MODEL_MIN_AUC="0", WORKBENCH_MODEL_MIN_LABELLED="20", WORKBENCH_MODEL_MIN_PER_CLASS="5")
    env.update({k: str(v) for k, v in extra.items()})
    return env


# Files whose module fixtures run whole pipelines go first: `make test` spreads files over the
# CPUs (pytest-xdist --dist loadfile) in collection order, and a long file started last keeps
# every other worker idle until it ends. The sort is stable, so the order inside a file stays.
_LONGEST_FILES_FIRST = ("test_hostile_second.py", "test_governance_egress.py", "test_subjects.py",
                        "test_hostile_inputs.py", "test_tamper.py", "test_robustness.py", "test_uplift.py",
                        "test_pipeline_e2e.py", "test_real_tables.py", "test_audit.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
