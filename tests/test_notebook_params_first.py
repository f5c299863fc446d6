"""Every entry point checks all its inputs before its first write: a stage run by hand (papermill
with parameters, JupyterLab) with a bad input file is refused before the database, its run record
or the subject key exist, as the command line is (StageParams.check_inputs, called by
context.open_stage and by the command line alike)."""
from __future__ import annotations

from pathlib import Path

import papermill
import pytest

from churn_workbench import cli
from churn_workbench.errors import InputError
from churn_workbench.stages import context
from churn_workbench.stages.params import IngestParams

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _inputs(folder: Path) -> dict[str, str]:
    (folder / "customers.csv").write_text("customer_id,churned,tenure\nC1,yes,3\nC2,no,40\n", encoding="utf-8")
    (folder / "bad.toml").write_text('exclude_columns = ["no_such"]\n', encoding="utf-8")
    return {"customers_path": str(folder / "customers.csv"), "data_config_path": str(folder / "bad.toml")}


def _nothing_made(target: Path) -> None:
    made = sorted(p.name for p in target.parent.rglob("*")) if target.parent.exists() else []
    assert made == [], made


def test_a_stage_opened_by_hand_checks_its_files_before_writing(tmp_path_factory):
    given, target = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("ws") / "data" / "wb.duckdb"
    params = IngestParams(db_path=str(target), **_inputs(given)).check()
    with pytest.raises(InputError, match="no_such"):
        context.open_stage(params)
    _nothing_made(target)


def test_the_command_line_refuses_the_same_files_the_same_way(tmp_path_factory, capsys):
    given, target = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("ws") / "data" / "wb.duckdb"
    files = _inputs(given)
    assert cli.main(["--customers", files["customers_path"], "--data-config", files["data_config_path"],
                     "--db", str(target)]) == 2
    assert "no_such" in capsys.readouterr().err
    _nothing_made(target)


@pytest.mark.slow
def test_the_ingest_notebook_with_a_bad_data_config_writes_nothing(tmp_path_factory, workspace):
    given, target = tmp_path_factory.mktemp("in"), tmp_path_factory.mktemp("ws") / "data" / "wb.duckdb"
    with pytest.raises(papermill.PapermillExecutionError, match="InputError"):
        papermill.execute_notebook(str(NOTEBOOK_DIR / "01_ingest.ipynb"), str(given / "out.ipynb"),
                                   parameters={"db_path": str(target), **_inputs(given)}, kernel_name="python3",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
    _nothing_made(target)
    assert not (target.parent / ".subject_key").exists()
