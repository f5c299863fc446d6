"""`subject export --out` writes the file it names, or nothing: a name without .json, a device or
a pipe (with --force too) is refused in one line, exit 2, and nothing is written beside it."""
from __future__ import annotations

import os

import pytest
import small_store

from churn_workbench import cli


@pytest.fixture
def store(tmp_path, monkeypatch):
    s = small_store.settings(tmp_path)
    small_store.build(s)
    monkeypatch.setenv("WORKBENCH_DB", str(s.db_path))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(s.data_dir))
    return s


def _refused(capsys, *argv):
    assert cli.main(["subject", "export", "--customer", "C7302", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err, err
    return err


@pytest.mark.parametrize("name", ["x.md", "x", "x.json.txt"])
def test_a_name_that_is_not_a_json_file_is_refused_not_renamed(store, tmp_path_factory, capsys, name):
    where = tmp_path_factory.mktemp("handover")
    assert "name it with .json" in _refused(capsys, "--out", str(where / name))
    assert list(where.iterdir()) == []


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_a_pipe_is_refused_as_not_a_regular_file(store, tmp_path_factory, capsys, force):
    where = tmp_path_factory.mktemp("handover")
    os.mkfifo(where / "pipe.json")
    assert "not a regular file" in _refused(capsys, "--out", str(where / "pipe.json"), *force)
    assert sorted(p.name for p in where.iterdir()) == ["pipe.json"]


def test_a_device_is_refused_with_force_too(store, capsys):
    before = set(os.listdir("/dev"))
    _refused(capsys, "--out", "/dev/null", "--force")
    assert set(os.listdir("/dev")) == before
