"""The dashboard reads only a snapshot generation that is a plain folder inside the snapshot folder,
named by a `CURRENT` that is a plain file: a link at either place (to anywhere) is refused in one
line. Erasure's republish removes such a link among the generations -- the link, never its target."""
from __future__ import annotations

import pytest

from churn_workbench.dashboard import data, publish


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "meta.json").write_text("{}")
    return folder


def test_a_generation_reached_through_a_link_is_refused_in_one_line(tmp_path, outside):
    snap = tmp_path / "snapshot"
    snap.mkdir()
    (snap / "gen-evil").symlink_to(outside)
    (snap / publish.POINTER).write_text("gen-evil\n")
    loaded = data.load(snap)
    assert loaded.state == "unreadable" and "gen-evil is a symbolic link" in loaded.message
    assert "\n" not in loaded.message and publish.current_generation(snap) is None


def test_a_current_pointer_that_is_a_link_is_refused(tmp_path, outside):
    snap = tmp_path / "snapshot"
    (snap / "gen-1").mkdir(parents=True)
    (tmp_path / "pointer").write_text("gen-1\n")
    (snap / publish.POINTER).symlink_to(tmp_path / "pointer")
    loaded = data.load(snap)
    assert loaded.state == "unreadable" and "CURRENT is a symbolic link" in loaded.message


def test_dropping_old_generations_removes_a_link_but_not_its_target(tmp_path, outside):
    snap = tmp_path / "snapshot"
    (snap / "gen-2").mkdir(parents=True)
    (snap / "gen-evil").symlink_to(outside)
    publish.drop_generations_except(snap, snap / "gen-2")
    assert sorted(p.name for p in snap.iterdir()) == ["gen-2"] and (outside / "meta.json").exists()
