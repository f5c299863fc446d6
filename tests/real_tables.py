"""Customer tables shaped like the public ones new users bring, written into a test's tmp_path.

No network here, so these are generated, but with the quirks of the real exports: a telecom
table in the shape of the well-known "Telco customer churn" set (camel-case `customerID`, Yes/No
`Churn`, `TotalCharges` as text with blanks for new customers, "No internet service" categories),
a subscription-billing export (semicolon-separated, currency amounts, US dates, a status column
as the label, identifiers of the account owner), and a customers-only file.

`python tests/real_tables.py docs/examples` rewrites the README's example files.
"""
from __future__ import annotations

import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

TELCO_CONFIG = (
    'id_column = "customerID"\n'
    'label_column = "Churn"\n'
    'sensitive_columns = ["gender", "SeniorCitizen"]\n'
)
SUBSCRIPTION_CONFIG = (
    'id_column = "Account ID"\n'
    'label_column = "Status"\n'
    'positive_label = "Cancelled"\n'
    'identifier_columns = ["Owner", "Billing Email"]\n'
)


def telco_frame(n: int = 600, seed: int = 7, consent_column: bool = True) -> pd.DataFrame:
    """Telco-style customers; churn depends on contract, tenure and charges like in the real set."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    ids = [f"{rng.integers(1000, 9999)}-{''.join(rng.choice(letters, 5))}" for _ in range(n)]
    while len(set(ids)) < n:  # the real ids are unique; so are these
        ids = list(dict.fromkeys(ids)) + [f"{rng.integers(1000, 9999)}-ZZ{i:03d}" for i in range(n - len(set(ids)))]
    tenure = rng.integers(0, 73, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.21, 0.24])
    internet = rng.choice(["DSL", "Fiber optic", "No"], n, p=[0.34, 0.44, 0.22])
    monthly = np.round(np.where(internet == "No", rng.uniform(18, 26, n),
                                np.where(internet == "DSL", rng.uniform(25, 80, n), rng.uniform(70, 118, n))), 2)
    logit = -1.2 + 1.4 * (contract == "Month-to-month") - 0.04 * tenure + 0.012 * (monthly - 65) + 0.5 * (internet == "Fiber optic")
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))

    def service(p_yes):
        values = rng.choice(["Yes", "No"], n, p=[p_yes, 1 - p_yes]).astype(object)
        values[internet == "No"] = "No internet service"
        return values

    total = np.round(monthly * tenure * rng.uniform(0.95, 1.05, n), 2).astype(str).astype(object)
    total[tenure == 0] = " "  # the real export has a single space for brand-new customers
    frame = pd.DataFrame({
        "customerID": ids,
        "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": (rng.random(n) < 0.16).astype(int),
        "Partner": rng.choice(["Yes", "No"], n),
        "Dependents": rng.choice(["Yes", "No"], n, p=[0.3, 0.7]),
        "tenure": tenure,
        "PhoneService": rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
        "MultipleLines": rng.choice(["Yes", "No", "No phone service"], n, p=[0.42, 0.48, 0.1]),
        "InternetService": internet,
        "OnlineSecurity": service(0.29), "OnlineBackup": service(0.34), "DeviceProtection": service(0.34),
        "TechSupport": service(0.29), "StreamingTV": service(0.38), "StreamingMovies": service(0.39),
        "Contract": contract,
        "PaperlessBilling": rng.choice(["Yes", "No"], n, p=[0.59, 0.41]),
        "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)",
                                     "Credit card (automatic)"], n),
        "MonthlyCharges": monthly,
        "TotalCharges": total,
        "Churn": np.where(churn, "Yes", "No"),
    })
    if consent_column:
        # A CRM opt-in flag: yes for most, an explicit "No" for some, blank (never asked) for a few.
        consent = rng.choice(["Yes", "No", ""], n, p=[0.85, 0.1, 0.05])
        frame.insert(1, "consent_given", consent)
    return frame


def telco_csv(path: Path, n: int = 600, seed: int = 7, consent_column: bool = True) -> Path:
    telco_frame(n, seed, consent_column).to_csv(path, index=False)
    return path


def telco_config(path: Path) -> Path:
    path.write_text(TELCO_CONFIG)
    return path


def subscription_csv(path: Path, n: int = 400, seed: int = 3) -> Path:
    """A billing-system export: `;` separated, "$1,234.00" amounts, US dates, Active/Cancelled status."""
    rng = np.random.default_rng(seed)
    first = rng.choice(["Ann", "Bob", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro"], n)
    last = rng.choice(["Lee", "Martin", "Okafor", "Novak", "Silva", "Kowalski", "Tanaka"], n)
    seats = rng.integers(1, 60, n)
    mrr = seats * rng.choice([12.0, 29.0, 49.0], n)
    signup = pd.Timestamp("2026-01-31") - pd.to_timedelta(rng.integers(20, 900, n), unit="D")
    cancelled = rng.random(n) < 1 / (1 + np.exp(-(-0.8 - 0.03 * seats + 0.4 * (mrr < 200))))
    rows = ["Account ID;Owner;Billing Email;Plan;Seats;MRR;Signup Date;Support Tickets;Status"]
    for i in range(n):
        tickets = "" if rng.random() < 0.1 else str(rng.integers(0, 12))
        rows.append(f"ACC-{10000 + i};{first[i]} {last[i]};{first[i].lower()}.{last[i].lower()}{i}@example.com;"
                    f"{rng.choice(['Starter', 'Team', 'Business'])};{seats[i]};\"${mrr[i]:,.2f}\";"
                    f"{signup[i]:%m/%d/%Y};{tickets};{'Cancelled' if cancelled[i] else 'Active'}")
    path.write_text("\n".join(rows) + "\n")
    return path


def subscription_config(path: Path) -> Path:
    path.write_text(SUBSCRIPTION_CONFIG)
    return path


def customers_only_csv(path: Path, n: int = 300, seed: int = 5) -> Path:
    """The smallest useful file: ids, a few features, a partly blank label; no consent anywhere."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["1", "0", ""], n, p=[0.2, 0.6, 0.2])
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)],
                          "plan": rng.choice(["basic", "plus", "pro"], n),
                          "tenure_months": rng.integers(1, 80, n),
                          "monthly_fee": np.round(rng.uniform(10, 90, n), 2),
                          "churned": label})
    frame.to_csv(path, index=False)
    return path


def feedback_unknown_ids_csv(path: Path, n: int = 40) -> Path:
    """Feedback whose customer ids match nobody (another system's ids); no feedback_id column."""
    pd.DataFrame({"customer_id": [f"ZZ-{i}" for i in range(n)],
                  "text": ["The signal keeps dropping and support never calls back"] * n}).to_csv(path, index=False)
    return path


def header_only_csv(path: Path, header: str) -> Path:
    path.write_text(header + "\n")
    return path


def gzip_copy(source: Path, path: Path) -> Path:
    path.write_bytes(gzip.compress(source.read_bytes()))
    return path


def zip_copy(source: Path, path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(source.name, source.read_bytes())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def nested_parquet(path: Path) -> Path:
    """A Parquet export with a list column and a struct column (e.g. from a document store)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"customer_id": ["a", "b"], "churned": [0, 1],
                      "tags": pa.array([["x", "y"], []], type=pa.list_(pa.string())),
                      "address": pa.array([{"city": "Oslo"}, {"city": "Rome"}])})
    pq.write_table(table, path)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/examples")
    out.mkdir(parents=True, exist_ok=True)
    telco_csv(out / "telco_customers.csv")
    telco_config(out / "telco.toml")
