"""Opened by hand with its defaults, the ingest notebook would replace the store's customers with
synthetic ones. When the store holds customers imported from a file it refuses, in one line,
and leaves the store as it was."""
from __future__ import annotations

import duckdb
import papermill
import pytest

from churn_workbench.errors import UsageError
from churn_workbench.stages import ingest
from churn_workbench.stages.params import IngestParams
from conftest import ROOT


@pytest.fixture
def imported(workspace, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,plan,churned\n" + "".join(f"K{i:03d},p{i % 3},{i % 2}\n" for i in range(40)))
    ingest.run(IngestParams(run_id="import-1", customers_path=str(path)))
    return workspace


def _customers(ws) -> list:
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall()
    finally:
        con.close()


def test_defaults_refuse_to_replace_imported_customers(imported):
    before = _customers(imported)
    with pytest.raises(UsageError) as err:
        ingest.run(IngestParams())
    message = str(err.value)
    assert "customers.csv" in message and "customers_path" in message and "db_path" in message and "\n" not in message
    assert _customers(imported) == before and len(before) == 40


def test_defaults_still_work_on_a_store_without_imported_data(workspace):
    summary = ingest.run(IngestParams(synthetic_n=30))
    assert summary["customers"] == 30
    assert ingest.run(IngestParams(synthetic_n=30))["unchanged"]


def test_an_explicit_file_or_run_id_is_not_refused(imported, tmp_path):
    assert ingest.run(IngestParams(run_id="synthetic-2", synthetic_n=25))["customers"] == 25


@pytest.mark.slow
def test_the_notebook_itself_refuses_with_its_defaults(imported, tmp_path):
    before = _customers(imported)
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(ROOT / "notebooks" / "01_ingest.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False)
    assert err.value.ename == "UsageError" and "holds customers imported from customers.csv" in err.value.evalue
    assert _customers(imported) == before
