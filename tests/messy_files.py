"""Generators of the messy input files real customers send, written into a test's tmp_path."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_rows(path: Path, rows: list[dict]) -> Path:
    """A CSV of `rows` (dicts with the same keys, the header in their order)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def messy_customers_csv(path: Path) -> Path:
    """Numbers as text with separators/spaces/%, blanks, yes/no/Y/N/TRUE labels, dates, booleans."""
    return write(path, (
        "customer_id,name,email,phone,churned,balance,discount,region,signup_date,autopay,notes_constant\n"
        'A1,Ann Lee,ann@example.com,+44 7700 900001,yes,"1,234.50",3.5%,north,2024-01-01,yes,x\n'
        'A2,Bob Ray,bob@example.com,+44 7700 900002,No, 42 ,10%,,2024-03-01,no,x\n'
        'A3,Cy Dee,cy@example.com,+44 7700 900003,Y,"12,000",,south,2024-01-11,Yes,x\n'
        'A4,Di Fox,di@example.com,+44 7700 900004,n,,0%,north,,NO,x\n'
        'A5,Ed Gil,ed@example.com,+44 7700 900005,TRUE,(12.50),1.5 %,east,2024-02-01,,x\n'
        'A6,Flo Ho,flo@example.com,+44 7700 900006,,$7.25,2%,west,2024-03-01,yes,x\n'
    ))


def european_csv(path: Path) -> Path:
    """Semicolon-delimited with decimal commas and dot thousands separators."""
    return write(path, (
        "customer_id;churned;amount;fee\n"
        "1;0;3,5;1.234,50\n"
        "2;1;12,25;2.000\n"
        "3;0;1.234,5;12,00\n"
    ))


def duplicate_ids_csv(path: Path) -> Path:
    return write(path, "customer_id,churned,x\nC1,0,1\nC2,1,2\nC1,0,3\nC3,1,4\nC2,0,5\n")


def binary_junk(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    data = bytes(rng.integers(0, 256, 4096, dtype=np.uint8))
    path.write_bytes(b"\x00\x01\x02" + data)
    return path


def latin1_csv(path: Path) -> Path:
    return write(path, "customer_id,name,churned,city\nC1,Jürgen Müller,1,Köln\nC2,Zoë Brontë,0,Orléans\n", "latin-1")


def wide_csv(path: Path, n_rows: int = 300, n_cols: int = 100, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    columns = {"customer_id": [f"W{i:05d}" for i in range(n_rows)], "churned": rng.integers(0, 2, n_rows)}
    for j in range(n_cols):
        if j % 4 == 0:
            columns[f"cat_{j}"] = rng.choice(["a", "b", "c", "d"], n_rows)
        else:
            values = rng.normal(100, 30, n_rows).round(2)
            columns[f"num_{j}"] = np.where(rng.random(n_rows) < 0.05, np.nan, values)
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def typed_parquet(path: Path) -> Path:
    frame = pd.DataFrame({
        "customer_id": pd.array([101, 102, 103, 104], dtype="int64"),
        "churned": pd.array([True, False, None, True], dtype="boolean"),
        "tenure": [1.0, 24.0, np.nan, 60.0],
        "plan": pd.Categorical(["basic", "premium", "basic", None]),
        "autopay": [True, False, True, False],
        "last_login": pd.to_datetime(["2026-01-10", "2026-01-01", None, "2026-01-11"]),
        "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
    })
    frame.to_parquet(path)
    return path


def renamed_with_config(tmp_path: Path) -> tuple[Path, Path]:
    """A customers file with custom id/label names, a custom identifier and a column to exclude."""
    customers = write(tmp_path / "renamed.csv", (
        "Cust No,Full Name,Left Company,gender,tenure\n"
        "k-1,Ann Lee,Churned,f,12\n"
        "k-2,Bob Ray,Stayed,m,30\n"
        "k-3,Cy Dee,,f,2\n"
    ))
    config = write(tmp_path / "data.toml", (
        'id_column = "Cust No"\n'
        'label_column = "Left Company"\n'
        'positive_label = "Churned"\n'
        'identifier_columns = ["Full Name"]\n'
        'exclude_columns = ["gender"]\n'
    ))
    return customers, config


def scoring_frame_with_surprises(X: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """X for scoring: unseen categories, a missing optional column, an extra column, shuffled order."""
    rng = np.random.default_rng(seed)
    out = X.copy()
    categorical = [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    for c in categorical:
        out[c] = out[c].astype(object)
        out.loc[out.index[: len(out) // 3], c] = "never-seen-" + c
    numeric = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c])]
    out = out.drop(columns=numeric[-1])
    out["extra_column"] = rng.normal(size=len(out))
    return out[list(rng.permutation(out.columns))]
