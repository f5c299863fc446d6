"""The data owner's allow-list (`allow_words` in the data config) can never let a person's data
leave: an entry that is, or holds a word that is, personal data to the detectors, or a value of an
identifying column of the customers file (an id in any canonical form, a name or one word of it,
an e-mail or its local part), is refused in one line naming the config file and the entry, before
anything is written."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench import cli
from churn_workbench.boundary import allow_words
from churn_workbench.errors import InputError

FRAME = pd.DataFrame({"customer_id": ["C7302", "C0001"], "full_name": ["Anna Meier-Lutz", "Bob Quenby"],
                      "mail": ["quickfox.vandermeer@x.de", None], "phone": ["+44 20 7946 0958", None]})
ROLES = {"customer_id": "id", "full_name": "name", "mail": "email", "phone": "phone"}


@pytest.mark.parametrize("entry,why", [
    ("c7302", "'customer_id'"), ("\uff23\uff17\uff13\uff10\uff12", "'customer_id'"), ("Fritzbox C0001", "'customer_id'"),
    ("Quenby", "'full_name'"), ("Lutz", "PERSON"), ("quickfox", "'mail'"), ("anna.meier@example.com", "EMAIL"),
    ("+49 170 1234567", "PHONE"), ("DE89370400440532013000", "IBAN"), ("FRITZ!Box 7590", "holds 'FRITZ'"),
    ("+44 20 7946 0958", "PHONE"),
], ids=repr)
def test_an_entry_that_is_or_holds_personal_data_is_refused_naming_it(entry, why):
    with pytest.raises(InputError) as refused:
        allow_words.check((entry,), FRAME, ROLES, "cfg.toml", "customers.csv")
    message = str(refused.value)
    assert message.startswith(f"cfg.toml: allow_words entry {entry!r}") and why in message and "\n" not in message


@pytest.mark.parametrize("entry", ["Fritzbox", "Speedport Smart", "MagentaTV", "GigaCube", "Glasfaser", "Easybox"])
def test_words_of_the_business_pass(entry):
    allow_words.check((entry,), FRAME, ROLES, "cfg.toml", "customers.csv")


def test_a_refused_allow_list_stops_the_run_before_anything_is_written(tmp_path, capsys):
    FRAME.rename(columns={"phone": "mobile"}).assign(churned=[1, 0]).to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "cfg.toml").write_text('name_columns = ["full_name"]\nemail_columns = ["mail"]\n'
                                       'phone_columns = ["mobile"]\nallow_words = ["Speedport", "Quenby"]\n',
                                       encoding="utf-8")
    code = cli.main(["--customers", str(tmp_path / "customers.csv"), "--data-config", str(tmp_path / "cfg.toml"),
                     "--stages", "ingest", "--db", str(tmp_path / "data" / "wb.duckdb")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "allow_words entry 'Quenby'" in err and "'full_name'" in err
    assert not (tmp_path / "data").exists()
