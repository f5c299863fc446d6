import time

import numpy as np
import pandas as pd
import pytest

import messy_files as mf
from churn_workbench import inputs
from churn_workbench.inputs import DataConfig, InputError


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
    started = time.perf_counter()
    table = inputs.read_customers(mf.wide_csv(tmp_path / "wide.csv"))
    assert time.perf_counter() - started < 5
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
    table = inputs.type_customers(data.customers, DataConfig(), "synthetic")
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
