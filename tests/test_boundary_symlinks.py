"""A file the workbench writes, named by a setting or an option (the database, the signing key,
the heads file and its public-key twin, the subject key and key store), is never written through
a symbolic link at its name: the link is refused in one line naming the setting and the path,
exit 2, before anything runs, and the file it points to is left as it was."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from churn_workbench import cli, config
from churn_workbench.boundary.paths import append_private, written_file
from churn_workbench.errors import UsageError

VICTIM = "VICTIM\n"


def _file_settings() -> list[str]:
    """Every setting that names a file (a path setting that is not a folder), read from the settings."""
    return [f.metadata["env"] for f in config.knobs()
            if str(f.type).startswith("Path") and f.name not in config.FOLDER_SETTINGS]


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    victim.chmod(0o644)
    return victim


def _untouched(victim: Path) -> bool:
    return victim.read_text() == VICTIM and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_the_file_settings_are_the_ones_the_workbench_writes():
    assert set(_file_settings()) == {"WORKBENCH_DB", "WORKBENCH_SUBJECT_KEY_FILE", "WORKBENCH_SUBJECT_KEYSTORE",
                                     "WORKBENCH_SIGNING_KEY_FILE", "WORKBENCH_HEADS_FILE"}


@pytest.mark.parametrize("variable", _file_settings())
def test_a_setting_naming_a_link_is_refused_naming_it(workspace, monkeypatch, tmp_path, variable):
    victim = _victim(tmp_path)
    link = tmp_path / "elsewhere" / "link.file"
    link.parent.mkdir()
    link.symlink_to(victim)
    monkeypatch.setenv(variable, str(link))
    with pytest.raises(UsageError) as refused:
        config.load_settings()
    assert str(link) in str(refused.value) and "symbolic link" in str(refused.value)
    assert "WORKBENCH_DB" in str(refused.value) if variable == "WORKBENCH_DB" else str(refused.value).startswith(variable)
    assert _untouched(victim)


@pytest.mark.parametrize("variable", _file_settings())
def test_a_dangling_link_is_refused_and_its_target_never_made(workspace, monkeypatch, tmp_path, variable):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "never-made")
    monkeypatch.setenv(variable, str(link))
    with pytest.raises(UsageError, match="symbolic link"):
        config.load_settings()
    assert not (tmp_path / "never-made").exists()


@pytest.mark.parametrize("variable", _file_settings())
def test_a_folder_behind_a_link_is_fine(workspace, monkeypatch, tmp_path, variable):
    """Only the file's own name is not followed: its folder may sit behind a link (another disk)."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real)
    monkeypatch.setenv(variable, str(tmp_path / "linked" / "f.duckdb"))
    settings = config.load_settings()
    assert real / "f.duckdb" in {Path(getattr(settings, f.name)) for f in config.knobs() if f.metadata["env"] == variable}


def test_db_option_naming_a_link_ends_the_command_in_one_line(workspace, tmp_path, capsys):
    victim = _victim(tmp_path)
    link = tmp_path / "wb.duckdb"
    link.symlink_to(victim)
    assert cli.main(["--synthetic", "20", "--stages", "ingest", "--db", str(link)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(link) in err and "symbolic link" in err
    assert _untouched(victim)


@pytest.mark.parametrize("which", ["heads", "public key"])
def test_a_run_with_a_linked_heads_file_or_twin_is_refused_before_anything_is_made(workspace, monkeypatch, tmp_path,
                                                                                  which, capsys):
    victim = _victim(tmp_path)
    workspace.heads.parent.mkdir(parents=True)
    (workspace.heads if which == "heads" else workspace.heads.with_suffix(".pub")).symlink_to(victim)
    assert cli.main(["--synthetic", "20", "--stages", "ingest", "--run-id", "linked-heads"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WORKBENCH_HEADS_FILE" in err and "symbolic link" in err
    assert _untouched(victim)
    assert not workspace.db_path.exists() and not (workspace.audit_dir / "runs" / "linked-heads").exists()


def test_written_file_keeps_the_name_and_refuses_a_device():
    with pytest.raises(UsageError, match="not a regular file"):
        written_file("/dev/null", "WORKBENCH_HEADS_FILE")


def test_append_private_never_writes_through_a_link(tmp_path):
    victim = _victim(tmp_path)
    link = tmp_path / "heads.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UsageError, match="WORKBENCH_HEADS_FILE"):
        append_private(link, "head\n", "WORKBENCH_HEADS_FILE")
    assert _untouched(victim)


def test_append_private_refuses_a_pipe_without_waiting_for_a_reader(tmp_path):
    fifo = tmp_path / "heads.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UsageError):
        append_private(fifo, "head\n", "WORKBENCH_HEADS_FILE")


def test_append_private_creates_a_private_file_and_appends(tmp_path):
    path = tmp_path / "heads.jsonl"
    append_private(path, "a\n")
    append_private(path, "b\n")
    assert path.read_text() == "a\nb\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
