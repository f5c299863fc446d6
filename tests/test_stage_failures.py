"""Bad parameters are found before the first stage starts (exit 2, one line naming the flag);
a stage that fails ends the run with exit 1, as the README says, with a message that explains
it; error messages list every spelling they accept."""
from __future__ import annotations

import json
import re

import papermill
import pytest

from churn_workbench.workspace import Workspace
from churn_workbench import cli, config, db, inputs, pipeline
from churn_workbench.errors import InputError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("args, flag", [
    (["--control-share", "1.5"], "--control-share"),
    (["--control-share", "nan"], "--control-share"),
    (["--action-segments", "High,Urgent"], "--action-segments"),
    (["--max-train-rows", "0"], "--max-train-rows"),
    (["--seed", "-1"], "--seed"),
    (["--synthetic", "0"], "--synthetic"),
])
def test_a_bad_parameter_is_refused_before_any_stage(workspace, capsys, args, flag):
    assert cli.main(["--quiet", "--synthetic", "20", *args] if "--synthetic" not in args else ["--quiet", *args]) == 2
    assert flag in _one_line(capsys)
    assert not workspace.db_path.exists(), "no run may be recorded"


def test_stages_whose_inputs_no_stage_made_are_refused_before_starting(workspace, capsys):
    assert cli.main(["--quiet", "--stages", "train"]) == 2
    err = _one_line(capsys)
    assert "no customers yet" in err and "--stages ingest,train" in err
    assert not workspace.db_path.exists()


def test_resume_checks_the_recorded_parameters_instead_of_failing_again(workspace, capsys):
    settings = config.load_settings()
    with db.session(settings.db_path) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status, params) VALUES ('bad-1', now(), 'failed', ?)",
                    [json.dumps({"synthetic_n": 20, "seed": 42, "control_share": 1.5, "run_id": "bad-1"})])
    assert cli.main(["--resume", "bad-1"]) == 2
    assert "--resume bad-1: its recorded control_share=1.5: expected a share in [0, 1)" in _one_line(capsys)


@pytest.mark.parametrize("ename, evalue, shown", [
    ("TrainingError", "model not promoted: held-out ROC-AUC 0.52 is below the floor 0.6; there is no previous model to keep",
     "model not promoted: held-out ROC-AUC 0.52"),
    ("ParserException", "Parser Error: SELECT clause without selection list", "unexpected error in the train stage"),
])
def test_a_failed_stage_ends_the_run_with_exit_1_and_an_explanation(workspace, monkeypatch, ename, evalue, shown):
    def failing(*args, **kwargs):
        raise papermill.PapermillExecutionError(0, 1, "", ename, evalue, [])
    monkeypatch.setattr(papermill, "execute_notebook", failing)
    result = pipeline.run(Workspace(config.load_settings()), {}, ["train"], run_id="gate-1", progress=False, echo=lambda *_: None)
    assert result.status == "failed" and result.exit_code == 1
    assert result.error.startswith(shown) and not result.error.startswith(ename)


def test_a_stage_run_by_hand_on_an_empty_store_says_what_to_run_first(workspace):
    from churn_workbench.errors import StageInputMissing
    from churn_workbench.stages import train
    from churn_workbench.stages.params import TrainParams
    with pytest.raises(StageInputMissing, match="run the ingest stage first"):
        train.run(TrainParams())


def test_the_granted_message_names_every_spelling_that_is_accepted(tmp_path):
    candidates = ["true", "yes", "y", "t", "1", "1.0", "on", "si", "false", "no", "n", "f", "0", "0.0", "off", "nein"]
    accepted = []
    for value in candidates:
        path = tmp_path / f"{value}.csv"
        path.write_text(f"customer_id,purpose,granted\nC1,marketing,{value}\n")
        try:
            inputs.read_consent(path)
            accepted.append(value)
        except InputError:
            pass
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,purpose,granted\nC1,marketing,maybe\n")
    with pytest.raises(InputError) as err:
        inputs.read_consent(path)
    named = set(re.findall(r"[\w.]+", str(err.value)))
    assert accepted and [v for v in accepted if v not in named] == []
