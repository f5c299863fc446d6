"""A run id is used as a folder name and printed in commands: only a plain token passes, on
every way in (flags, resume, notebook parameters, the runner itself), before anything is written."""
from __future__ import annotations

import os

import pytest

from churn_workbench.workspace import Workspace
from churn_workbench import cli, config, pipeline
from churn_workbench.errors import UsageError
from churn_workbench.stages.params import ActParams, IngestParams

# Each of these wrote executed notebooks and a manifest outside audit/runs/ (one overwrote
# another run's files), with exit code 0.
HOSTILE = ["../../x", "<absolute>", "..", ".", "a/b", "ok\nRun forged: SUCCEEDED", "../runs/other", "", " r1",
           "x" * 65, "r1/", "-r", "r\\1"]


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("run_id", HOSTILE, ids=repr)
def test_the_command_line_refuses_a_run_id_that_is_not_a_plain_token(workspace, capsys, run_id):
    run_id = run_id.replace("<absolute>", str(workspace.root / "absolute-run"))
    before = _files(workspace.root)
    assert cli.main(["--quiet", "--synthetic", "20", "--stages", "ingest", f"--run-id={run_id}"]) == 2
    err = capsys.readouterr().err
    assert "--run-id" in err and "not a valid run id" in err and len(err.strip().splitlines()) == 1
    assert _files(workspace.root) == before, "nothing may be written for a refused run id"


@pytest.mark.parametrize("flag", ["--resume", "--outcomes-for", "--simulate-outcomes"])
def test_every_flag_that_takes_a_run_id_checks_it(workspace, capsys, flag):
    assert cli.main([flag, "../runs/other"]) == 2
    assert f"{flag} '../runs/other': not a valid run id" in capsys.readouterr().err


def test_the_runner_refuses_a_bad_run_id_before_writing(workspace, tmp_path):
    settings = config.load_settings()
    with pytest.raises(UsageError, match="not a valid run id"):
        pipeline.run(Workspace(settings), {}, ["ingest"], run_id="../../escaped", progress=False, echo=lambda *_: None)
    assert not (workspace.root / "escaped").exists() and not settings.db_path.exists()


def test_a_run_folder_holding_another_runs_notebooks_is_never_overwritten(workspace):
    settings = config.load_settings()
    old = settings.audit_dir / "runs" / "nightly-1" / "01_ingest.ipynb"
    old.parent.mkdir(parents=True)
    old.write_text("the executed notebook of an earlier run")
    with pytest.raises(UsageError, match="already holds another run"):
        pipeline.run(Workspace(settings), {}, ["ingest"], run_id="nightly-1", progress=False, echo=lambda *_: None)
    assert old.read_text() == "the executed notebook of an earlier run"


def test_an_existing_run_id_is_refused_unless_resuming_it(workspace):
    from churn_workbench import db
    settings = config.load_settings()
    with db.session(settings.db_path) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('nightly-2', now(), 'succeeded')")
    with pytest.raises(UsageError, match="exists already"):
        pipeline.run(Workspace(settings), {}, ["ingest"], run_id="nightly-2", progress=False, echo=lambda *_: None)
    assert not (settings.audit_dir / "runs" / "nightly-2").exists()


def test_a_link_planted_in_the_runs_folder_cannot_lead_outside(workspace, tmp_path):
    settings = config.load_settings()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (settings.audit_dir / "runs").mkdir(parents=True)
    os.symlink(outside, settings.audit_dir / "runs" / "linked")
    with pytest.raises(UsageError, match="outside"):
        pipeline.run(Workspace(settings), {}, ["ingest"], run_id="linked", progress=False, echo=lambda *_: None)
    assert list(outside.iterdir()) == []


def test_notebook_parameters_meet_the_same_rule():
    with pytest.raises(UsageError, match="parameter run_id"):
        IngestParams.from_namespace({"run_id": "../x"})
    with pytest.raises(UsageError, match="parameter run_id"):
        ActParams(run_id="a\nb").check()
    assert IngestParams.from_namespace({"run_id": "20250101T080000Z-1a2b3c"}).run_id == "20250101T080000Z-1a2b3c"


@pytest.mark.parametrize("run_id", ["nightly-1", "trial.2", "R_1", "interactive-20250101T080000", "x" * 64])
def test_plain_run_ids_and_the_ones_the_workbench_makes_pass(run_id):
    from churn_workbench.boundary.run_ids import check_run_id
    assert check_run_id(run_id) == run_id
    made = pipeline.new_run_id()
    assert check_run_id(made) == made
