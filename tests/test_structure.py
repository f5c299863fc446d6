"""One home per concept: the rules that keep the library from defining anything twice."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import duckdb
import pytest

from churn_workbench import config, errors, vocab
from churn_workbench.pipeline import NOTEBOOK_DIR, NOTEBOOKS
from churn_workbench.stages.params import PARAMS

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "churn_workbench"
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|DELETE|UPDATE|CREATE|ATTACH|COPY|FROM|WHERE|VALUES|DROP|ALTER)\b")


def _lib_modules():
    return sorted(LIB.rglob("*.py"))


def _parameters_cell(notebook: Path) -> dict:
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in (c["metadata"].get("tags") or []))
    values = {}
    for node in ast.parse("".join(cell["source"])).body:
        assert isinstance(node, ast.Assign), f"{notebook.name}: the parameters cell holds only assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("stage", vocab.STAGES)
def test_notebook_parameters_cell_matches_the_declared_stage_parameters(stage):
    declared = {f.name: f.default for f in dataclasses.fields(PARAMS[stage])}
    assert _parameters_cell(NOTEBOOK_DIR / NOTEBOOKS[stage]) == declared


def test_every_stage_has_parameters_and_a_notebook():
    assert set(PARAMS) == set(vocab.STAGES) == set(NOTEBOOKS)


def test_only_config_reads_the_environment():
    offenders = [str(p.relative_to(LIB)) for p in _lib_modules()
                 if p.name != "config.py" and re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text())]
    assert offenders == []


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [f.metadata["env"] for f in config.knobs() if f"`{f.metadata['env']}`" not in readme]
    assert missing == []


def test_sql_never_interpolates_a_hand_quoted_name_or_value():
    """Names from data reach SQL only through db.ident / db.literal: an f-string that builds SQL
    and puts a quote right before or after an interpolation is quoting by hand."""
    found = []
    for path in _lib_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            parts = node.values
            text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
            if not SQL_WORDS.search(text):
                continue
            for before, after in zip(parts, parts[1:]):
                hand_quoted = (isinstance(before, ast.Constant) and isinstance(after, ast.FormattedValue)
                               and str(before.value)[-1:] in "'\"") or \
                              (isinstance(before, ast.FormattedValue) and isinstance(after, ast.Constant)
                               and str(after.value)[:1] in "'\"")
                if hand_quoted:
                    found.append(f"{path.relative_to(LIB)}:{node.lineno}")
    assert found == []


@pytest.mark.parametrize("score", [-1.0, -0.05, -0.0499, 0.0, 0.0499, 0.05, 1.0, None])
def test_sentiment_label_and_its_sql_twin_agree(score):
    con = duckdb.connect()
    sql_label = con.execute(f"SELECT {vocab.sentiment_label_sql('x')} FROM (SELECT ?::DOUBLE AS x)", [score]).fetchone()[0]
    assert sql_label == vocab.sentiment_label(score)
    assert vocab.sentiment_label(0.05) == "positive" and vocab.sentiment_label(-0.05) == "negative"


def test_failures_are_classified_by_type():
    assert errors.exit_code_for_name("InputError") == 2
    assert errors.exit_code_for_name("TrainingError") == 2     # a subclass of InputError
    assert errors.exit_code_for_name("ModelIntegrityError") == 1
    assert errors.exit_code_for_name("KeyError") == 1          # not ours: a broken stage
    assert all(issubclass(cls, errors.WorkbenchError) for cls in
               (errors.InputError, errors.UsageError, errors.PipelineBusy, errors.DatabaseLocked))


def test_vocabularies_are_defined_once():
    """No module but vocab.py spells out the purposes, segments or default identifier columns."""
    patterns = [r'\(\s*"profiling",\s*"external_llm",\s*"marketing"\s*\)', r'\(\s*"High",\s*"Medium",\s*"Low"\s*\)',
                r'\(\s*"name",\s*"email",\s*"phone"\s*\)', r'"ingest",\s*"feedback",\s*"train",\s*"predict",\s*"act"']
    offenders = [f"{p.relative_to(LIB)}: {pattern}" for p in _lib_modules() if p.name != "vocab.py"
                 for pattern in patterns if re.search(pattern, p.read_text())]
    assert offenders == []


def test_settings_reject_bad_values_with_a_one_line_usage_error(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LLM_TIMEOUT", "soon")
    with pytest.raises(errors.UsageError, match="WORKBENCH_LLM_TIMEOUT"):
        config.load_settings()
