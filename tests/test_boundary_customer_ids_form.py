"""A customer id is one line of reasonable length: an id with a control character inside (a
line break, a tab) or longer than MAX_ID_CHARS is refused in one line naming the file, column and
rows, in every file that carries ids, and by the subject commands."""
from __future__ import annotations

import pytest

from churn_workbench import inputs, outcomes
from churn_workbench.boundary.customer_ids import MAX_ID_CHARS, subject_id
from churn_workbench.errors import InputError, UsageError

LONG = "C" * (MAX_ID_CHARS + 1)


def _customers(tmp_path, cid: str):
    path = tmp_path / "c.csv"
    quoted = '"' + cid.replace('"', '""') + '"'
    path.write_text(f"customer_id,churned,tenure\nC1,yes,3\n{quoted},no,4\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("cid,words", [("C00\n01", "control character"), ("C00\t01", "control character"),
                                       (LONG, f"longer than {MAX_ID_CHARS}")])
def test_a_malformed_id_in_the_customers_file_is_refused_naming_the_row(tmp_path, cid, words):
    path = _customers(tmp_path, cid)
    with pytest.raises(InputError) as err:
        inputs.read_customers(path, inputs.DataConfig())
    message = str(err.value)
    assert str(path) in message and "'customer_id' (id)" in message and words in message and "row 2" in message
    assert "\n" not in message


def test_feedback_consent_and_outcomes_apply_the_same_rule(tmp_path):
    feedback = tmp_path / "f.csv"
    feedback.write_text('customer_id,text\n"C1\n2",too expensive\n', encoding="utf-8")
    consent = tmp_path / "k.csv"
    consent.write_text(f"customer_id,purpose,granted\n{LONG},profiling,yes\n", encoding="utf-8")
    outcome = tmp_path / "o.csv"
    outcome.write_text('customer_id,churned,observed_at\n"C1\r2",1,2026-01-01\n', encoding="utf-8")
    for read in (lambda: inputs.read_feedback(feedback), lambda: inputs.read_consent(consent),
                 lambda: outcomes.read_outcomes(outcome)):
        with pytest.raises(InputError, match=r"control character|longer than"):
            read()


def test_ids_trimmed_at_the_ends_stay_fine(tmp_path):
    table = inputs.read_customers(_customers(tmp_path, "\tC2 "), inputs.DataConfig())
    assert list(table.frame["customer_id"]) == ["C1", "C2"]


@pytest.mark.parametrize("value", ["C1\n2", LONG])
def test_the_subject_commands_refuse_a_malformed_id(value):
    with pytest.raises(UsageError, match=r"--customer"):
        subject_id(value)
