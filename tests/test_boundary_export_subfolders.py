"""Exports written into a folder below the workspace's exports folder: erasure finds and removes
them like those at its top (its search covers every file below it), and every folder the
workbench creates for an export is private (0700)."""
from __future__ import annotations

import json
import stat

import pytest

import small_store
from churn_workbench import cli


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_export_in_a_sub_folder_of_the_exports_folder_goes_with_the_person(store, capsys):
    exports = store.data_dir / "exports"
    target = exports / "sub" / "deeper" / "x.json"
    assert cli.main(["subject", "export", "--customer", "C7302", "--out", str(target)]) == 0
    assert cli.main(["subject", "export", "--customer", "C7303", "--out", str(exports / "sub" / "y.json")]) == 0
    assert target.is_file() and target.with_suffix(".md").is_file()
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    assert not target.exists() and not target.with_suffix(".md").exists()
    left = [json.loads(p.read_text())["customer_id"] for p in exports.rglob("*.json")]
    assert left == ["C7303"]


@pytest.mark.parametrize("out", ["exports/sub/x.json", "exports/new/"])
def test_folders_made_for_an_export_are_private(store, out, capsys):
    assert cli.main(["subject", "export", "--customer", "C7302", "--out", f"{store.data_dir}/{out}"]) == 0
    for folder in (store.data_dir / "exports", store.data_dir / "exports" / out.split("/")[1]):
        assert _mode(folder) == 0o700, folder


def test_folders_made_for_an_export_outside_the_workspace_are_private(store, tmp_path_factory, capsys):
    outside = tmp_path_factory.mktemp("handover")
    assert cli.main(["subject", "export", "--customer", "C7302", "--out", str(outside / "a" / "b" / "x.json")]) == 0
    assert _mode(outside / "a") == 0o700 and _mode(outside / "a" / "b") == 0o700
