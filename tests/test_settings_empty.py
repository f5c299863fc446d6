"""A WORKBENCH_* variable set to an empty or blank value is refused in one line naming it, never
read as "not set" (`WORKBENCH_DB=''` would silently mean the default database); the few settings
whose documented meaning of empty is their default (config.EMPTY_MEANS) are the exceptions.
Every variable the workbench reads is covered, from the environment and from .env."""
from __future__ import annotations

from pathlib import Path

import pytest

from churn_workbench import cli, config
from churn_workbench.dashboard import serve
from churn_workbench.errors import UsageError

README = Path(__file__).resolve().parents[1] / "README.md"
REFUSED = [n for n in config.variables() if n not in config.EMPTY_MEANS]


def test_every_setting_is_covered():
    assert {f.metadata["env"] for f in config.knobs()} <= set(config.variables())
    assert set(config.EMPTY_MEANS) <= set(config.variables())  # no stale exception
    assert "WORKBENCH_DB" in REFUSED and len(REFUSED) > 50


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
@pytest.mark.parametrize("name", REFUSED)
def test_an_empty_variable_is_refused_naming_it(workspace, monkeypatch, name, blank):
    monkeypatch.setenv(name, blank)
    with pytest.raises(UsageError) as refused:
        config.load_settings()
    assert str(refused.value) == f"{name} is set but empty: unset it or give a value"


@pytest.mark.parametrize("name", sorted(config.EMPTY_MEANS))
def test_the_documented_exceptions_take_empty_as_their_default(workspace, monkeypatch, name):
    monkeypatch.setenv(name, "")
    config.load_settings()
    assert name in README.read_text()  # each exception, and what empty means, is documented


def test_an_empty_variable_in_dot_env_is_refused(workspace, monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("WORKBENCH_DB=\n")
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("WORKBENCH_DB", "x")   # recorded, so the value .env adds is removed afterwards
    monkeypatch.delenv("WORKBENCH_DB")
    with pytest.raises(UsageError, match="^WORKBENCH_DB is set but empty"):
        config.load_settings()


def test_an_empty_database_setting_ends_a_run_before_anything_is_made(workspace, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DB", "")
    assert cli.main(["--synthetic", "20", "--stages", "ingest"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WORKBENCH_DB is set but empty: unset it or give a value" in err
    assert not any(workspace.data_dir.iterdir()) and not workspace.audit_dir.exists()


def test_the_dashboard_refuses_an_empty_setting_before_it_starts(workspace, monkeypatch):
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", " ")
    with pytest.raises(UsageError, match="^WORKBENCH_AUDIT_DIR is set but empty"):
        serve.prepare("127.0.0.1", 1)
