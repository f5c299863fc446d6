"""Input files: typed as users' exports are (messy numbers, encodings, compressed files, Parquet),
refused in one line naming the file, column or rows when they cannot be read; and hostile or odd
files through whole runs (stages in this process, see inprocess.py): column names never become
SQL, odd formats are read correctly or refused, any real table works end to end."""
import json
import re

import numpy as np
import pandas as pd
import pytest

import hostile_inputs as hi
import messy_files as mf
import real_tables as rt
from churn_workbench import inputs
from churn_workbench.inputs import DataConfig, InputError
from conftest import Workspace, workspace_env
from inprocess import cli


def one_line_error(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_messy_customers_are_typed(tmp_path):
    table = inputs.read_customers(mf.messy_customers_csv(tmp_path / "c.csv"))
    f, roles = table.frame, table.roles
    assert list(f.columns[:2]) == ["customer_id", "churned"]
    assert f["customer_id"].tolist() == ["A1", "A2", "A3", "A4", "A5", "A6"]
    assert str(f["churned"].dtype) == "Int8"
    assert f["churned"].tolist()[:5] == [1, 0, 1, 0, 1] and pd.isna(f["churned"].iloc[5])
    assert f["balance"].tolist()[:3] == [1234.5, 42.0, 12000.0]
    assert np.isnan(f["balance"].iloc[3]) and f["balance"].iloc[4] == -12.5 and f["balance"].iloc[5] == 7.25
    assert f["discount"].tolist()[:2] == [3.5, 10.0] and f["discount"].iloc[4] == 1.5
    assert f["autopay"].tolist()[:4] == [1.0, 0.0, 1.0, 0.0] and np.isnan(f["autopay"].iloc[4])
    assert f["signup_date"].tolist()[:3] == [60.0, 0.0, 50.0]  # days before the newest date
    assert pd.isna(f["region"].iloc[1]) and f["region"].iloc[0] == "north"
    # Identifier columns get the role of what they hold, so the anonymizer matches each its own way.
    assert [roles[c] for c in ("name", "email", "phone")] == ["name", "email", "phone"]
    assert roles["notes_constant"] == "excluded"
    assert table.kinds == {"balance": "numeric", "discount": "numeric", "region": "categorical",
                           "signup_date": "date", "autopay": "boolean"}
    assert any("notes_constant" in w for w in table.warnings)


def test_european_decimal_commas(tmp_path):
    table = inputs.read_customers(mf.european_csv(tmp_path / "eu.csv"))
    assert table.frame["amount"].tolist() == [3.5, 12.25, 1234.5]
    assert table.frame["fee"].tolist() == [1234.5, 2000.0, 12.0]


def test_mostly_numeric_column_becomes_category_with_warning(tmp_path):
    rows = "\n".join(f"C{i},0,{i if i % 3 else 'n/k'}" for i in range(60))
    table = inputs.read_customers(mf.write(tmp_path / "m.csv", "customer_id,churned,score\n" + rows + "\n"))
    assert table.kinds["score"] == "categorical"
    assert any("score" in w and "kept as a category" in w for w in table.warnings)


def test_few_bad_numbers_become_blank_with_warning(tmp_path):
    rows = "\n".join(f"C{i},0,{i if i != 7 else 'oops'}" for i in range(100))
    table = inputs.read_customers(mf.write(tmp_path / "m.csv", "customer_id,churned,score\n" + rows + "\n"))
    assert table.kinds["score"] == "numeric" and np.isnan(table.frame["score"].iloc[7])
    assert any("row 8" in w for w in table.warnings)


def test_duplicate_ids_name_file_column_rows(tmp_path):
    path = mf.duplicate_ids_csv(tmp_path / "dups.csv")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(path)
    one_line_error(excinfo, "dups.csv", "'customer_id'", "3 (same as row 1)", "5 (same as row 2)")


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(mf.write(tmp_path / "empty.csv", ""))
    one_line_error(excinfo, "empty.csv", "empty")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(mf.write(tmp_path / "blank.csv", "\n  \n"))
    one_line_error(excinfo, "blank.csv")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(mf.write(tmp_path / "header.csv", "customer_id,churned\n"))
    one_line_error(excinfo, "header.csv", "no data rows")


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(tmp_path / "nope.csv")
    one_line_error(excinfo, "nope.csv", "not found")


def test_binary_junk_is_not_a_csv(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(mf.binary_junk(tmp_path / "junk.csv"))
    one_line_error(excinfo, "junk.csv", "not a CSV")


def test_excel_and_utf16_are_named(tmp_path):
    with pytest.raises(InputError, match="Excel"):
        inputs.read_table(mf.write(tmp_path / "book.csv", "PK\x03\x04rest"))
    (tmp_path / "u16.csv").write_bytes("customer_id,churned\nC1,0\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        inputs.read_table(tmp_path / "u16.csv")


def test_wrong_encoding_is_rejected_unless_declared(tmp_path):
    path = mf.latin1_csv(tmp_path / "latin.csv")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(path)
    one_line_error(excinfo, "latin.csv", "line 2", "UTF-8", "encoding")
    table = inputs.read_customers(path, DataConfig(encoding="latin-1"))
    assert table.frame["name"].tolist() == ["Jürgen Müller", "Zoë Brontë"]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("customer_id,churned,x\nC1,0,1\nC2,1,2\n".encode("utf-8-sig"))
    assert inputs.read_customers(path).frame["customer_id"].tolist() == ["C1", "C2"]


def test_control_characters_are_rejected(tmp_path):
    path = mf.write(tmp_path / "ctrl.csv", "customer_id,churned,note\nC1,0,ok\nC2,1,bad\x07bell\n")
    with pytest.raises(InputError) as excinfo:
        inputs.read_table(path)
    one_line_error(excinfo, "ctrl.csv", "'note'", "row 2")


def test_missing_id_column_lists_columns(tmp_path):
    path = mf.write(tmp_path / "noid.csv", "id,churned,tenure\n1,0,3\n")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(path)
    one_line_error(excinfo, "noid.csv", "'customer_id' not found", "'id'", "'tenure'", "id_column")


def test_unexpected_label_values(tmp_path):
    path = mf.write(tmp_path / "lab.csv", "customer_id,churned\nC1,yes\nC2,maybe\nC3,0\nC4,2\n")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(path)
    one_line_error(excinfo, "lab.csv", "'churned'", "'maybe'", "rows 2, 4", "positive_label")


def test_label_optional_and_numeric(tmp_path):
    table = inputs.read_customers(mf.write(tmp_path / "nolab.csv", "customer_id,x\nC1,1\nC2,2\n"))
    assert table.frame["churned"].isna().all() and any("no label" in w for w in table.warnings)
    table = inputs.read_customers(mf.write(tmp_path / "num.csv", "customer_id,churned\n1,1.0\n2,0.0\n3,\n"))
    assert table.frame["churned"].tolist()[:2] == [1, 0]


def test_blank_id_is_rejected(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(mf.write(tmp_path / "b.csv", "customer_id,churned\nC1,0\n ,1\n"))
    one_line_error(excinfo, "b.csv", "blank", "row 2")


def test_malformed_rows(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_table(mf.write(tmp_path / "bad.csv", "customer_id,churned\nC1,0\nC2,1,extra,fields\n"))
    one_line_error(excinfo, "bad.csv", "malformed")


def test_duplicate_column_names(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_table(mf.write(tmp_path / "dc.csv", "customer_id,x, x\nC1,1,2\n"))
    one_line_error(excinfo, "dc.csv", "duplicate column", "'x'")


def test_hundred_columns(tmp_path):
    table = inputs.read_customers(mf.wide_csv(tmp_path / "wide.csv"))
    features = table.columns_with_role("feature")
    assert len(features) == 100
    assert sum(k == "numeric" for k in table.kinds.values()) == 75


def test_parquet_with_native_types(tmp_path):
    path = mf.typed_parquet(tmp_path / "c.parquet")
    table = inputs.read_customers(path)
    f = table.frame
    assert f["customer_id"].tolist() == ["101", "102", "103", "104"]
    assert f["churned"].tolist()[:2] == [1, 0] and pd.isna(f["churned"].iloc[2])
    assert f["autopay"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert f["last_login"].tolist()[:2] == [1.0, 10.0]
    assert table.kinds["plan"] == "categorical" and table.roles["email"] == "email"
    # Parquet is recognised by content, whatever the suffix.
    (tmp_path / "disguised.csv").write_bytes(path.read_bytes())
    assert len(inputs.read_table(tmp_path / "disguised.csv")) == 4


def test_data_config_renames_and_excludes(tmp_path):
    customers, config_path = mf.renamed_with_config(tmp_path)
    cfg = inputs.load_data_config(config_path)
    assert cfg == DataConfig(id_column="Cust No", label_column="Left Company", positive_label="Churned",
                             identifier_columns=("Full Name",), exclude_columns=("gender",))
    table = inputs.read_customers(customers, cfg)
    assert table.frame["customer_id"].tolist() == ["k-1", "k-2", "k-3"]
    assert table.frame["churned"].tolist()[:2] == [1, 0] and pd.isna(table.frame["churned"].iloc[2])
    assert table.roles == {"customer_id": "id", "churned": "label", "Full Name": "name",
                           "gender": "excluded", "tenure": "feature"}


def test_data_config_errors(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.load_data_config(mf.write(tmp_path / "bad.toml", 'id_colum = "x"\n'))
    one_line_error(excinfo, "bad.toml", "id_colum", "allowed keys")
    with pytest.raises(InputError, match="list of column names"):
        inputs.load_data_config(mf.write(tmp_path / "t.toml", "exclude_columns = 3\n"))
    with pytest.raises(InputError, match="not a valid"):
        inputs.load_data_config(mf.write(tmp_path / "s.toml", "id_column = \n"))
    assert inputs.load_data_config(None) == DataConfig()
    customers = mf.write(tmp_path / "c.csv", "customer_id,churned,age\nC1,0,30\n")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(customers, DataConfig(exclude_columns=("gendr",)))
    one_line_error(excinfo, "c.csv", "'gendr'")


def test_retained_style_positive_label(tmp_path):
    path = mf.write(tmp_path / "r.csv", "customer_id,retained\nC1,yes\nC2,No\nC3,n\n")
    table = inputs.read_customers(path, DataConfig(label_column="retained", positive_label="no"))
    assert table.frame["churned"].tolist() == [0, 1, 1]


def test_identifier_like_columns_never_features(tmp_path):
    rows = "\n".join(f"C{i},0,street {i},user{i}@mail.example.com,{i % 5},{i}-xyz-{i * 7}" for i in range(80))
    path = mf.write(tmp_path / "ids.csv", "customer_id,churned,address,contact,score,ticket\n" + rows + "\n")
    table = inputs.read_customers(path)
    assert table.roles["address"] == "identifier"
    assert table.roles["contact"] == "email"
    assert table.roles["ticket"] == "excluded"  # nearly unique text
    assert table.columns_with_role("feature") == ["score"]


def test_thousands_of_categories_stay_categorical(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame({"customer_id": np.arange(n), "churned": rng.integers(0, 2, n),
                          "city": [f"city_{v}" for v in rng.integers(0, 3000, n)]})
    frame.to_csv(tmp_path / "cities.csv", index=False)
    table = inputs.read_customers(tmp_path / "cities.csv")
    assert table.kinds["city"] == "categorical" and table.frame["city"].nunique() > 2500


def test_consent_column_and_records(tmp_path):
    path = mf.write(tmp_path / "c.csv", "customer_id,churned,consent_given\nC1,0,true\nC2,1,false\nC3,0,\n")
    table = inputs.read_customers(path)
    assert table.roles["consent_given"] == "consent"
    assert table.frame["consent_given"].tolist() == [True, False, False]  # blank = no consent
    records = inputs.consent_from_column(table)
    assert len(records) == 9 and set(records["purpose"]) == {"profiling", "external_llm", "marketing"}
    assert set(records["source"]) == {"customers.consent_given"}
    assert records.groupby("customer_id")["granted"].all().to_dict() == {"C1": True, "C2": False, "C3": False}
    assert inputs.consent_from_column(inputs.read_customers(mf.write(tmp_path / "n.csv", "customer_id\nC1\n"))).empty


def test_read_feedback(tmp_path):
    long_text = "word " * 2_000_000  # 10 MB in one cell must not crash anything
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C1", "C3", "C1"],
                          "text": ["slow internet", long_text, "", "great", "slow internet"],
                          "created_at": ["2026-01-02", "2026-01-03T10:00:00+01:00", "", "", "2026-01-02"],
                          "channel": ["app", "email", "app", None, "app"]})
    frame.to_csv(tmp_path / "f.csv", index=False)
    fb = inputs.read_feedback(tmp_path / "f.csv")
    assert list(fb.columns) == ["feedback_id", "customer_id", "text", "created_at", "channel", "text_truncated"]
    assert len(fb) == 4 and any("blank text" in w for w in fb.attrs["warnings"])
    assert fb["text"].str.len().max() == inputs.MAX_TEXT_CHARS and fb["text_truncated"].sum() == 1
    assert fb["feedback_id"].is_unique and fb["feedback_id"].str.startswith("F").all()
    assert fb["feedback_id"].iloc[3] == fb["feedback_id"].iloc[0] + "-2"  # identical rows stay distinct
    assert str(fb["created_at"].dtype) == "datetime64[ns]" and fb["created_at"].iloc[1] == pd.Timestamp("2026-01-03 09:00")
    with pytest.raises(InputError) as excinfo:
        inputs.read_feedback(tmp_path / "f.csv", on_long_text="reject")
    one_line_error(excinfo, "f.csv", "'text'", "row 2", "longer than")
    # Stable: the same rows in another order get the same ids.
    frame.iloc[::-1].to_csv(tmp_path / "g.csv", index=False)
    again = inputs.read_feedback(tmp_path / "g.csv")
    assert set(again["feedback_id"]) == set(fb["feedback_id"])


def test_read_feedback_errors(tmp_path):
    with pytest.raises(InputError) as excinfo:
        inputs.read_feedback(mf.write(tmp_path / "f.csv", "customer_id,body\nC1,hi\n"))
    one_line_error(excinfo, "f.csv", "'text'")
    with pytest.raises(InputError) as excinfo:
        inputs.read_feedback(mf.write(tmp_path / "d.csv", "customer_id,text,created_at\nC1,hi,yesterday\n"))
    one_line_error(excinfo, "d.csv", "'created_at'", "row 1")
    empty = inputs.read_feedback(mf.write(tmp_path / "e.csv", "customer_id,text\n"))
    assert empty.empty and "feedback_id" in empty.columns
    aliased = inputs.read_feedback(mf.write(tmp_path / "a.csv", "Cust No,text\nk-1,hi\n"), id_column="Cust No")
    assert aliased["customer_id"].tolist() == ["k-1"]


def test_read_consent(tmp_path):
    path = mf.write(tmp_path / "k.csv", (
        "customer_id,purpose,granted,recorded_at\n"
        "C1,profiling,1,2025-01-01\nC1,External-LLM,yes,\nC2,Marketing,FALSE,2025-02-01 10:00\n"))
    consent = inputs.read_consent(path)
    assert consent["purpose"].tolist() == ["profiling", "external_llm", "marketing"]
    assert consent["granted"].tolist() == [True, True, False]
    assert pd.isna(consent["recorded_at"].iloc[1]) and set(consent["source"]) == {"k.csv"}
    with pytest.raises(InputError) as excinfo:
        inputs.read_consent(mf.write(tmp_path / "p.csv", "customer_id,purpose,granted\nC1,profiling,1\nC1,sales,1\n"))
    one_line_error(excinfo, "p.csv", "'sales'", "row 2", "profiling")
    with pytest.raises(InputError) as excinfo:
        inputs.read_consent(mf.write(tmp_path / "g.csv", "customer_id,purpose,granted\nC1,profiling,\n"))
    one_line_error(excinfo, "g.csv", "'granted'", "row 1")


def test_synthetic_customers_type_cleanly():
    from churn_workbench.synthetic import generate
    data = generate(500, seed=3)
    from churn_workbench.inputs.load import SYNTHETIC_CONFIG
    table = inputs.type_customers(data.customers, SYNTHETIC_CONFIG, "synthetic")
    assert table.warnings == []
    assert table.columns_with_role("name", "email", "phone") == ["name", "email", "phone"]
    assert table.frame["churned"].notna().sum() == data.customers["churned"].notna().sum()


def test_identifier_roles_follow_the_data_config_whatever_the_names(tmp_path):
    """The README's own data config: identifiers called full_name / mail / mobile / iban."""
    path = mf.write(tmp_path / "c.csv", "cust_no,left_us,full_name,mail,mobile,iban,internal_note,plan\n"
                    "k1,gone,Jane Doe,jane@example.com,+44 7700 900123,GB82WEST12345698765432,x,a\n"
                    "k2,stayed,Jo Bloggs,jo@example.org,07700 900456,DE89370400440532013000,y,b\n")
    cfg = DataConfig(id_column="cust_no", label_column="left_us", positive_label="gone",
                     identifier_columns=("full_name", "mail", "mobile", "iban"), exclude_columns=("internal_note",))
    roles = inputs.read_customers(path, cfg).roles
    assert [roles[c] for c in ("full_name", "mail", "mobile", "iban", "internal_note", "plan")] == \
        ["name", "email", "phone", "identifier", "excluded", "feature"]


def test_explicit_role_keys_and_sensitive_columns(tmp_path):
    path = mf.write(tmp_path / "c.csv", 'id,Client "Nom",contact point,gender,plan\n'
                    'a,Zoë Ünal,z@x.example,f,p1\nb,Ann Li,a@x.example,m,p2\nc,Bo Yu,b@x.example,f,p1\n')
    cfg = DataConfig(id_column="id", name_columns=('Client "Nom"',), phone_columns=("contact point",),
                     sensitive_columns=("gender",))
    roles = inputs.read_customers(path, cfg).roles
    assert roles['Client "Nom"'] == "name" and roles["contact point"] == "phone"
    assert roles["gender"] == "sensitive" and roles["plan"] == "feature"


def test_column_names_differing_only_in_case_are_refused(tmp_path):
    path = mf.write(tmp_path / "c.csv", "customer_id,account,ACCOUNT\nC1,a1,A1\n")
    with pytest.raises(InputError) as excinfo:
        inputs.read_customers(path)
    one_line_error(excinfo, "c.csv", "'account' and 'ACCOUNT'")


def test_sensitive_names_are_proposed_and_can_be_opted_out(tmp_path):
    path = mf.write(tmp_path / "c.csv", "customer_id,churned,gender,age_band,plan,score\n"
                    + "".join(f"C{i},{i % 2},{'fm'[i % 2]},{i % 4},p{i % 3},{i}\n" for i in range(40)))
    table = inputs.read_customers(path)
    assert table.roles["gender"] == "sensitive" and table.roles["age_band"] == "sensitive"
    assert any("gender" in w and "sensitive" in w for w in table.warnings)
    cfg = DataConfig(not_sensitive_columns=("age_band",), allow_columns=("score",))
    table = inputs.read_customers(path, cfg)
    assert table.roles["gender"] == "sensitive" and table.roles["age_band"] == "feature"
    assert table.leakage_allowed == ["score"]


def test_compressed_csv_is_read_as_the_csv_it_holds(tmp_path):
    plain = rt.telco_csv(tmp_path / "telco.csv", n=80)
    expected = inputs.read_table(plain)
    for path in (rt.gzip_copy(plain, tmp_path / "telco.csv.gz"), rt.zip_copy(plain, tmp_path / "telco.zip")):
        pd.testing.assert_frame_equal(inputs.read_table(path), expected)
    two = rt.zip_copy(plain, tmp_path / "two.zip", extra={"notes.txt": b"hello"})
    with pytest.raises(inputs.InputError, match="exactly one CSV or Parquet file"):
        inputs.read_table(two)
    (tmp_path / "cut.csv.gz").write_bytes((tmp_path / "telco.csv.gz").read_bytes()[:200])
    with pytest.raises(inputs.InputError, match="damaged gzip"):
        inputs.read_table(tmp_path / "cut.csv.gz")


def test_nested_parquet_column_is_a_one_line_error_naming_it(tmp_path):
    path = rt.nested_parquet(tmp_path / "nested.parquet")
    with pytest.raises(inputs.InputError) as excinfo:
        inputs.read_customers(path)
    message = str(excinfo.value)
    assert "column 'tags'" in message and "nested" in message and "\n" not in message
    ws = Workspace.at(tmp_path / "ws")
    result = cli("--quiet", "--customers", path, env=workspace_env(ws))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "column 'tags'" in result.stderr
    assert not ws.db_path.exists()


# --------------------------------------------------------------------------- hostile column headers, whole runs
@pytest.fixture(scope="module")
def header_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("headers")
    return {fmt: hi.run_built(root / fmt, lambda d, f=fmt: hi.hostile_header_inputs(d, f)) for fmt in ("csv", "parquet")}


@pytest.fixture(params=["csv", "parquet"])
def header_run(request, header_runs):
    return header_runs[request.param]


def test_hostile_headers_succeed_or_fail_in_one_line(header_run):
    ws, inputs_, result = header_run
    hi.assert_clean_outcome(result, inputs_["file"])


def test_hostile_headers_whole_pipeline_succeeds(header_run):
    """Column names may contain spaces, quotes and any Unicode: the run finishes."""
    ws, inputs_, result = header_run
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    # Everyone is scored except customers labelled as churned (history: training data only).
    active = hi.query(ws, "SELECT count(*) FROM customers WHERE churned IS DISTINCT FROM 1")[0][0]
    assert 0 < active < len(inputs_["ids"])
    assert hi.query(ws, "SELECT count(*) FROM predictions")[0][0] == active


def test_hostile_headers_leave_consent_register_intact(header_run):
    ws, inputs_, result = header_run
    stored = sorted((c, p, bool(g)) for c, p, g in hi.query(ws, "SELECT customer_id, purpose, granted FROM consent"))
    expected = sorted((c, p, g == "true") for c, p, g, *_ in inputs_["consent"])
    assert stored == expected


def test_hostile_headers_leave_every_table_in_place(header_run):
    ws, inputs_, result = header_run
    assert set(hi.TABLES) <= hi.tables(ws)
    assert hi.query(ws, "SELECT count(*) FROM customers")[0][0] == len(inputs_["ids"])
    assert hi.query(ws, "SELECT count(*) FROM llm_egress")[0][0] == 0   # offline analyzer
    # nothing was granted beyond the file: the external_llm decision counts half the customers
    events = [json.loads(d) for (d,) in hi.query(ws, "SELECT details FROM audit_log WHERE event_type = 'consent_checked'")]
    for ev in events:
        if ev.get("purpose") == hi.E:
            assert ev["allowed"] == len(inputs_["ids"]) // 2, ev


def test_hostile_headers_audit_chain_verifies(header_run):
    ws, inputs_, result = header_run
    verify = cli("verify", "--db", ws.db_path, env=workspace_env(ws))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_header_names_differing_only_in_case(tmp_path):
    """`tenure_months` and `Tenure_Months` (DuckDB identifiers are case-insensitive): success, or exit 2 naming it."""
    ws, inputs_, result = hi.run_built(tmp_path, hi.case_only_header_inputs)
    hi.assert_clean_outcome(result, inputs_["file"])
    if result.returncode == 2:
        assert "Tenure_Months" in result.stderr or "tenure_months" in result.stderr.lower()
    if ws.db_path.exists() and "consent" in hi.tables(ws):
        stored = hi.query(ws, "SELECT count(*) FROM consent WHERE purpose = 'external_llm' AND granted")[0][0]
        assert stored == 0


# --------------------------------------------------------------------------- odd formats (ingest only)
@pytest.fixture(scope="module")
def odd_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd")
    return {kind: hi.run_built(root / kind, lambda d, k=kind: hi.odd_customers(d, k), "--stages", "ingest")
            for kind in ("latin1", "semicolon_decimal_comma", "duplicate_ids_case_space", "blank_ids")}


def test_latin1_customers_file_read_correctly_or_refused(odd_runs):
    ws, inputs_, result = odd_runs["latin1"]
    hi.assert_clean_outcome(result, inputs_["file"])
    if result.returncode == 0:
        names = [n for (n,) in hi.query(ws, "SELECT name FROM customers WHERE customer_id = 'C001'")]
        assert names == ["Jürgen Müller"], f"latin-1 names stored as {names!r} (mojibake would defeat own-name matching)"


def test_semicolon_export_with_decimal_commas(odd_runs):
    ws, inputs_, result = odd_runs["semicolon_decimal_comma"]
    hi.assert_clean_outcome(result, inputs_["file"])
    if result.returncode == 0:
        cols = {c: t for c, t in hi.query(
            ws, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'")}
        assert "monthly_charges" in cols, f"file read as one column: {cols}"
        expected = hi.base_rows(30)[0]["monthly_charges"]
        (value,) = hi.query(ws, "SELECT monthly_charges FROM customers WHERE customer_id = 'C001'")[0]
        assert float(value) == pytest.approx(expected), f"76,92-style value stored as {value!r}"


def test_duplicate_ids_differing_by_case_or_space(odd_runs):
    """C001, "c001 " and NBSP+"C001": refused in one line, or kept apart (never silently merged or dropped)."""
    ws, inputs_, result = odd_runs["duplicate_ids_case_space"]
    hi.assert_clean_outcome(result, inputs_["file"])
    if result.returncode == 0:
        assert hi.query(ws, "SELECT count(*) FROM customers")[0][0] == 30, "a customer row was merged or dropped"


def test_blank_ids_are_refused_or_never_stored(odd_runs):
    ws, inputs_, result = odd_runs["blank_ids"]
    hi.assert_clean_outcome(result, inputs_["file"])
    if result.returncode == 0:
        assert hi.query(ws, "SELECT count(*) FROM customers WHERE customer_id IS NULL OR trim(customer_id) = ''")[0][0] == 0


def test_customers_without_feedback_file(tmp_path):
    """`--feedback` is optional (`--customers c.csv [--feedback f.csv] [--consent k.csv]`)."""
    ws, inputs_, result = hi.run_built(tmp_path, hi.no_feedback_inputs, "--stages", "ingest,feedback")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 0, (result.stdout + result.stderr)[-1500:]


# --------------------------------------------------------------------------- tables shaped like real exports
def _summary_line(stdout: str, label: str) -> str:
    return next((line.strip() for line in stdout.splitlines() if line.strip().startswith(label)), "")


def test_a_gzipped_subscription_export_is_ingested(tmp_path):
    """A billing export as users receive it: `;`-separated, "$1,234.00" amounts, US dates, a
    Cancelled/Active status as the label, owner identifiers; compressed as .csv.gz."""
    plain = rt.subscription_csv(tmp_path / "subscriptions.csv")
    packed = rt.gzip_copy(plain, tmp_path / "subscriptions.csv.gz")
    config = rt.subscription_config(tmp_path / "subscriptions.toml")
    ws = Workspace.at(tmp_path / "ws")
    result = hi.run(ws, "--customers", packed, "--data-config", config, "--stages", "ingest")
    assert result.returncode == 0, result.stdout + result.stderr
    cancelled = plain.read_text().count(";Cancelled\n")
    assert hi.query(ws, "SELECT count(*), sum(churned) FROM customers") == [(400, cancelled)]
    roles = dict(hi.query(ws, "SELECT column_name, role FROM customer_columns"))
    assert roles["Owner"] == "identifier" and roles["Billing Email"] == "email" and roles["MRR"] == "feature"
    assert hi.query(ws, 'SELECT min("MRR") > 0 FROM customers') == [(True,)]  # "$1,234.00" became a number


@pytest.fixture(scope="module")
def no_consent_unknown_feedback(tmp_path_factory):
    """A customers-only file with no consent anywhere, plus feedback whose ids are all unknown."""
    root = tmp_path_factory.mktemp("noconsent")
    customers = rt.customers_only_csv(root / "customers.csv", n=120)
    feedback = rt.feedback_unknown_ids_csv(root / "feedback.csv", n=40)
    ws = Workspace.at(root / "ws")
    # Without act: nobody is scored, so there is nothing to action (and the run is quicker).
    result = hi.run(ws, "--customers", customers, "--feedback", feedback, "--stages", "ingest,feedback,train,predict")
    return ws, result


def test_feedback_with_only_unknown_ids_runs_and_is_reported(no_consent_unknown_feedback):
    ws, result = no_consent_unknown_feedback
    assert result.returncode == 0, result.stdout + result.stderr
    assert "40 skipped: their customer id is not in the customers file" in _summary_line(result.stdout, "feedback:")
    assert hi.query(ws, "SELECT count(*) FROM feedback")[0][0] == 0


def test_no_consent_data_says_why_nobody_was_scored(no_consent_unknown_feedback):
    ws, result = no_consent_unknown_feedback
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scored this run: 0" in result.stdout
    not_scored = _summary_line(result.stdout, "not scored:")
    labelled_churned = hi.query(ws, "SELECT count(*) FROM customers WHERE churned = 1")[0][0]
    others = hi.query(ws, "SELECT count(*) FROM customers WHERE churned IS DISTINCT FROM 1")[0][0]
    assert f"{labelled_churned} already churned" in not_scored
    assert f"{others} no profiling consent on record" in not_scored
    why = _summary_line(result.stdout, "why none:")
    assert "no consent records at all" in why and "--consent" in why
    assert re.search(r"why none: .*no record means no consent", result.stdout)
