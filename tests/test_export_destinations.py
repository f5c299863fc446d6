"""Where an access export may go: never inside the workspace (its audit folder, a run's folder,
models, snapshot, the workspace root) -- so erasure, which sweeps only the exports folder, never
misses a copy, and a manifest is never replaced -- never inside a git work tree; the private
exports folder is the one place inside that is allowed."""
from __future__ import annotations

import subprocess

import pytest

import small_store
from churn_workbench import cli


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


def _export(*extra):
    return cli.main(["subject", "export", "--customer", "C7302", *extra])


@pytest.mark.parametrize("where", ["audit/runs/r1/", "audit/runs/r1/manifest.json", "data/models/", "data/snapshot/x.json",
                                   "data/", "access.json", "data/wb.json"])
def test_an_export_inside_the_workspace_is_refused_before_anything_is_written(store, workspace, where, capsys):
    manifest = workspace.audit_dir / "runs" / "r1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"run_id": "r1"}')
    before = sorted(p for p in workspace.root.rglob("*") if "exports" not in p.parts)
    assert _export("--out", str(workspace.root / where), "--force") == 2
    err = capsys.readouterr().err
    assert "inside" in err and "\n" not in err.strip()
    assert manifest.read_text() == '{"run_id": "r1"}'
    after = sorted(p for p in workspace.root.rglob("*") if "exports" not in p.parts)
    assert after == before


def test_the_private_exports_folder_is_allowed(store, workspace, capsys):
    assert _export("--out", str(workspace.data_dir / "exports" / "access.json")) == 0
    assert (workspace.data_dir / "exports" / "access.json").is_file()


def test_an_export_inside_a_git_work_tree_is_refused(store, tmp_path_factory, capsys):
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert _export("--out", str(repo / "sub" / "x.json")) == 2
    assert "git work tree" in capsys.readouterr().err
    assert not (repo / "sub").exists()
