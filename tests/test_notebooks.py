"""Source notebooks: committed without outputs, and runnable top to bottom with their defaults,
as an analyst would in JupyterLab (no papermill parameters, an interactive run)."""
from __future__ import annotations

import json

import duckdb
import nbformat
import papermill
import pytest

from churn_workbench.pipeline import NOTEBOOK_DIR, NOTEBOOKS
from conftest import ROOT

SOURCE_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
    assert any("parameters" in c.metadata.get("tags", []) for c in code), f"{path.name} has no parameters cell"


def test_no_secret_is_a_parameter():
    for path in SOURCE_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        params = "".join(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert "API_KEY" not in params.upper() and "api_key" not in params


@pytest.mark.slow
def test_stage_notebooks_run_with_their_defaults(workspace, tmp_path):
    """Run all cells of each stage notebook in order, exactly as saved (defaults only)."""
    for stage, name in NOTEBOOKS.items():
        papermill.execute_notebook(str(NOTEBOOK_DIR / name), str(tmp_path / name), kernel_name="python3",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
    con = duckdb.connect(str(workspace.db_path), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status FROM runs").fetchall()
        assert runs and all(status == "interactive" for _, status in runs)
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM actions").fetchone()[0] > 0
    finally:
        con.close()
    summary = json.dumps(nbformat.read(tmp_path / "05_action_agent.ipynb", as_version=4).cells[-1].outputs)
    # Executed notebooks are audit artefacts: aggregates, never a row per customer.
    assert "action_type" in summary and "customer_id" not in summary and "C000" not in summary
