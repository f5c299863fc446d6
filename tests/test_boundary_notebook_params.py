"""A stage notebook run by hand (papermill -p, JupyterLab) meets the command line's checks: for
every parameter of every stage, each value the command line refuses is refused by the stage's
parameter check too (`StageParams.check`, which a notebook's parameters cell calls), before the
stage touches the store. Unit level: the checks, no kernel.

One documented difference stays: a notebook parameter left "" means "not given" (the default
database, an interactive run, no customers file) where its default is "" too, like leaving the
flag out; a "" where the default is something else (`action_segments`) is refused like
`--action-segments ''`."""
from __future__ import annotations

import dataclasses
import os

import pytest

from churn_workbench import cli, db
from churn_workbench.errors import UsageError
from churn_workbench.stages import context
from churn_workbench.stages.params import PARAMS, IngestParams

LONG = "d" * 300


def _hostile(tmp) -> dict[str, list]:
    """Parameter -> values the command line refuses (as the parameter's type)."""
    (tmp / "afile").write_text("x")
    (tmp / "folder").mkdir()
    os.mkfifo(tmp / "fifo.csv")
    paths = [str(tmp / "missing.csv"), str(tmp / "folder"), str(tmp / "fifo.csv"), str(tmp / LONG / "x.csv"),
             str(tmp / "new\nline.csv"), "   "]
    return {
        "db_path": [str(tmp / "folder"), str(tmp / "afile" / "wb.duckdb"), str(tmp / LONG / "wb.duckdb"),
                    str(tmp / "afile"), str(tmp / "new\nline.duckdb"), "   "],
        "run_id": ["../x", "a b", "x" * 65, ".hidden", "   "],
        "synthetic_n": [0, -1, 10**8],
        "seed": [-1, 2**32],
        "customers_path": paths, "feedback_path": paths, "consent_path": paths, "data_config_path": paths,
        "llm_provider": ["nosuch", "   "],
        "max_train_rows": [0, -5, 10**10],
        "allow_columns": ["a,,b", ",", "   "],
        "action_segments": ["", "   ", "High,,Low", "Huge", "High,"],
        "control_share": [1.0, 1.5, float("nan"), -0.5, -2.0],
        "retrain": ["sometimes", "", "   ", "Always"],
    }


CASES = [(stage, name) for stage, cls in PARAMS.items() for name in cls.names()]


def test_every_parameter_of_every_stage_has_hostile_values(tmp_path):
    assert {name for _, name in CASES} <= set(_hostile(tmp_path))


@pytest.mark.parametrize("stage, name", CASES, ids=[f"{s}.{n}" for s, n in CASES])
def test_what_the_command_line_refuses_a_stage_parameter_refuses(stage, name, tmp_path, workspace, capsys):
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,churned\nC1,0\n")
    needs_customers = name in ("feedback_path", "consent_path", "data_config_path")
    flag = cli._flag(name)
    for value in _hostile(tmp_path)[name]:
        argv = [flag, str(value), "--stages", stage] + (["--customers", str(customers)] if needs_customers else [])
        assert cli.main(argv) == 2, (flag, value)
        err = capsys.readouterr().err
        assert flag in err or str(value).strip() in err, err
        given = {name: value, **({"customers_path": str(customers)} if needs_customers else {})}
        with pytest.raises(UsageError):
            PARAMS[stage].taken_from(given).check()
        with pytest.raises(UsageError):
            PARAMS[stage].from_namespace(given)   # what a notebook's parameters cell calls


def test_empty_means_not_given_only_where_the_default_is_empty():
    for cls in PARAMS.values():
        for f in dataclasses.fields(cls):
            if f.default == "":
                cls.taken_from({f.name: ""}).check()
            elif isinstance(f.default, str):
                with pytest.raises(UsageError, match="empty"):
                    cls.taken_from({f.name: ""}).check()


@pytest.fixture
def store_with_run(workspace):
    with db.session(workspace.db_path) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('conc-1', now(), 'succeeded')")
    return workspace


def _rows(ws) -> dict[str, int]:
    with db.session(ws.db_path) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "audit_log", "feedback")}


@pytest.mark.parametrize("run_id, refusal", [("CONC-1", "differs only in letter case"), ("Conc-1", "letter case"),
                                              ("conc-1", "already succeeded")])
def test_a_run_id_the_command_line_refuses_is_refused_before_a_stage_writes(store_with_run, run_id, refusal, capsys):
    assert cli.main(["--run-id", run_id, "--synthetic", "30", "--stages", "ingest"]) == 2
    assert run_id in capsys.readouterr().err
    before = _rows(store_with_run)
    with pytest.raises(UsageError, match=refusal):
        context.open_stage(IngestParams(run_id=run_id, synthetic_n=30))
    assert _rows(store_with_run) == before


def test_a_new_run_id_given_by_hand_gets_its_run_record(store_with_run):
    ctx = context.open_stage(IngestParams(run_id="by-hand-1", synthetic_n=30))
    assert ctx.run_id == "by-hand-1"
    with db.session(store_with_run.db_path) as con:
        assert con.execute("SELECT status FROM runs WHERE run_id = 'by-hand-1'").fetchone() == ("interactive",)
