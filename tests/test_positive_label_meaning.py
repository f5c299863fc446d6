"""A data config's positive_label must mean something in the file: one that matches no value of
the label column is refused in one line naming it and the values the column holds, instead of
storing every churner as "not churned"."""
from __future__ import annotations

import messy_files as mf
import pytest

from churn_workbench import inputs
from churn_workbench.inputs import DataConfig, InputError


@pytest.mark.parametrize("column,positive", [("0\n1\n1\n0", "gone"), ("stayed\nleft\nstayed", "churned"),
                                              ("yes\nno\nyes", "left")])
def test_a_positive_label_found_nowhere_in_the_column_is_refused(tmp_path, column, positive):
    rows = "\n".join(f"C{i},{v}" for i, v in enumerate(column.split("\n")))
    path = mf.write(tmp_path / "c.csv", "customer_id,churned\n" + rows + "\n")
    with pytest.raises(InputError) as refused:
        inputs.read_customers(path, DataConfig(positive_label=positive))
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and "c.csv" in message and repr(positive) in message
    assert "column 'churned' (label) holds" in message and "matches none of them" in message


def test_a_positive_label_that_occurs_is_taken_and_the_one_other_value_is_not_churned(tmp_path):
    path = mf.write(tmp_path / "c.csv", "customer_id,churned\nC1,left\nC2,stayed\nC3,left\n")
    table = inputs.read_customers(path, DataConfig(positive_label="left"))
    assert table.frame["churned"].tolist() == [1, 0, 1]
