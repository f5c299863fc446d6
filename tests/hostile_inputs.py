"""Hostile input files, and the runs made of them (stages in this process, see inprocess.py).

Written from the README and the design notes alone, four attacks:
1. hostile column headers (CSV and Parquet) must never become SQL and never corrupt the consent
   register; a run either succeeds or fails with a one-line exit-2 error;
2. consent edge cases must resolve to "no" (nothing at the fake server, nothing in llm_egress, not
   scored, not trained on, no action);
3. the customer's own identifiers, known by their role in the data config, must not leave the
   machine in any variant a customer writes (capitals, "SURNAME, First", initials, e-mail local
   part, phone/IBAN/identifier values with other separators, one-letter misspellings);
4. odd file formats (latin-1, BOM, semicolons with decimal commas, duplicate / blank ids, odd
   consent dates and granted values) are read correctly or refused with a one-line exit-2 error.

Attacks 2 and 3 share one run (`edge_run`, made once per test session); the others run only the
stages they need.
"""
from __future__ import annotations

import csv
import random
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import SMALL_TABLE_MODEL, Workspace, workspace_env
from fake_llm_server import FakeLLMServer
from inprocess import cli

TABLES = ("customers", "feedback", "consent", "feedback_analysis", "predictions", "actions", "llm_egress",
          "audit_log", "model_registry", "runs")
PURPOSES = ("profiling", "external_llm", "marketing")


def base_rows(n: int, seed: int = 1, prefix: str = "C") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        tenure, contract = rng.randint(1, 72), rng.choice(["monthly", "annual", "two_year"])
        p = 0.7 if (contract == "monthly" and tenure < 24) else 0.2
        churned = "1" if (i % 3 == 0 or rng.random() < p) else "0"
        rows.append(dict(customer_id=f"{prefix}{i:03d}", tenure_months=tenure,
                         monthly_charges=round(rng.uniform(20, 120), 2), contract=contract,
                         churned="" if i % 5 == 0 else churned))
    return rows


def write_csv(path: Path, header: list[str], rows: list[list], encoding="utf-8", delimiter=",") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CONSENT_HEADER = ["customer_id", "purpose", "granted", "recorded_at", "source"]


def full_consent(ids, external=lambda j: True) -> list[list]:
    recs = []
    for j, cid in enumerate(ids):
        recs += [[cid, "profiling", "true", "2024-01-01", "web"], [cid, "marketing", "true", "2024-01-01", "web"],
                 [cid, "external_llm", "true" if external(j) else "false", "2024-01-01", "web"]]
    return recs


# --- attack 1: hostile headers
INJ_QUOTE = '"; UPDATE consent SET granted = true; --'
INJ_BREAKOUT = 'customer_id" FROM customers; UPDATE consent SET granted = true; SELECT "customer_id'
HOSTILE_HEADERS = {
    'a"b': lambda i: i % 7,
    INJ_QUOTE: lambda i: (i * 3) % 11,
    INJ_BREAKOUT: lambda i: f"user{i}@example.org",
    "x'; DROP TABLE consent; --": lambda i: ["red", "green", "blue"][i % 3],
    "monthly charges extra": lambda i: i * 1.5,
    "\u202eevil\u202c": lambda i: i % 2,          # RTL override
    "zero\u200bwidth": lambda i: i % 4,           # zero-width space
    "select": lambda i: i % 3,                    # SQL keyword
    "Ünïcödé ☃": lambda i: ["a", "b"][i % 2],
}
PARQUET_ONLY_HEADERS = {
    "line\nbreak": lambda i: i % 5,
    "tab\there; DELETE FROM consent; --": lambda i: i % 3,
    "order": lambda i: i % 2,
}


def hostile_header_inputs(d: Path, fmt: str) -> dict:
    rows = base_rows(30)
    headers = dict(HOSTILE_HEADERS, **(PARQUET_ONLY_HEADERS if fmt == "parquet" else {}))
    for i, r in enumerate(rows):
        for name, value in headers.items():
            r[name] = value(i)
    ids = [r["customer_id"] for r in rows]
    if fmt == "csv":
        customers = write_csv(d / "customers.csv", list(rows[0]), [list(r.values()) for r in rows])
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        customers = d / "customers.parquet"
        pq.write_table(pa.Table.from_pylist(rows), customers)
    consent = full_consent(ids, external=lambda j: j % 2 == 1)
    write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    write_csv(d / "feedback.csv", ["customer_id", "text"],
               [[cid, f"The network is slow and the price is high kw{cid.lower()}zq."] for cid in ids])
    return dict(args=["--customers", customers, "--consent", d / "consent.csv", "--feedback", d / "feedback.csv"],
                consent=consent, ids=ids, file=customers.name)


def case_only_header_inputs(d: Path) -> dict:
    rows = base_rows(30)
    for r in rows:
        r["Tenure_Months"] = r["tenure_months"] + 1     # differs from tenure_months only in case
        r["CONTRACT"] = r["contract"].upper()
    ids = [r["customer_id"] for r in rows]
    customers = write_csv(d / "case_customers.csv", list(rows[0]), [list(r.values()) for r in rows])
    consent = full_consent(ids, external=lambda j: False)
    write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    write_csv(d / "feedback.csv", ["customer_id", "text"], [[cid, "Fine."] for cid in ids])
    return dict(args=["--customers", customers, "--consent", d / "consent.csv", "--feedback", d / "feedback.csv"],
                consent=consent, ids=ids, file=customers.name)


def case_only_role_inputs(d: Path) -> dict:
    """Two identifier columns whose names differ only in case, both named in the data config."""
    rows = base_rows(30)
    header = ["customer_id", "account", "ACCOUNT", "tenure_months", "monthly_charges", "contract", "churned"]
    data = [[r["customer_id"], f"ACC-{i:04d}-LOW", f"ACCT-{5500 + i}-ZZ", r["tenure_months"], r["monthly_charges"],
             r["contract"], r["churned"]] for i, r in enumerate(rows)]
    customers = write_csv(d / "case_roles.csv", header, data)
    ids = [r["customer_id"] for r in rows]
    consent = write_csv(d / "consent.csv", CONSENT_HEADER, full_consent(ids))
    feedback = write_csv(d / "feedback.csv", ["customer_id", "text"],
                          [[row[0], f"My account {row[2]} was charged twice, the price is too high."] for row in data])
    (d / "config.toml").write_text('identifier_columns = ["account", "ACCOUNT"]\n', encoding="utf-8")
    return dict(args=["--customers", customers, "--consent", consent, "--feedback", feedback,
                      "--data-config", d / "config.toml"], file=customers.name, secrets=[row[2] for row in data])


# --- attacks 2 and 3: consent edge cases and identifiers by role, one run with --llm openai
# A customer's canary is made of common words only: default-deny egress lets it leave when the
# customer consents, so its absence elsewhere means the consent rule held, not that it was masked.
_CANARY_WORDS = ("garden", "window", "river", "orange", "forest", "yellow", "silver", "kitchen", "summer", "winter")


def canary(cid: str) -> str:
    return "kitchen " + " ".join(_CANARY_WORDS[int(d)] for d in cid if d.isdigit()) + " forest"


# cust -> (full_name, mail, mobile, iban, loyalty card, nick"name, feedback text quoting an own-identifier variant)
PEOPLE = {
    "C001": ("Ottoline Brackenbury", "ottoline.brackenbury@example.org", "+44 7700 900456", "GB82 WEST 1234 5698 7654 32",
             "LC-99817-QX", "Bramble", "Hi, this is OTTOLINE BRACKENBURY again, the signal drops every evening."),
    "C002": ("Peregrine Fotheringay", "p.fotheringay@example.net", "+44 7700 900457", "GB33BUKB20201555555555",
             "LC-55120-AB", "Perry", "Account holder: FOTHERINGAY, Peregrine. Billing is too expensive."),
    "C003": ("Wilhelmina Quattlebaum", "wquattlebaum77@example.com", "+49 151 23456789", "DE89370400440532013000",
             "LC-31337-ZZ", "Mina",
             "Signed W. Q. here; you can reach me as wquattlebaum77 on your portal, billing is wrong."),
    "C004": ("Bartholomew Xanthopoulos", "bart.xantho@example.org", "+44 7700 900459", "GB29NWBK60161331926819",
             "LC-44001-CD", "Barty", "Call me back on 07700 900459 or (07700)900-459 please, support kept me on hold."),
    "C005": ("Cordelia Vanderwoude", "cordelia.v@example.org", "+44 7700 900460", "NL91ABNA0417164300",
             "LC-77777-EF", "Delia",
             "Refund to nl91 abna 0417 1643 00 please, my loyalty card is lc 77777 ef, friends call me Delia."),
    "C006": ("Ignatius Pemberton-Smythe", "ignatius@example.org", "+44 7700 900461", "GB94BARC10201530093459",
             "LC-12121-GH", "Iggy", "Email me at IGNATIUS@EXAMPLE.ORG, I am Ignatius, the network is slow."),
    "C007": ("Rosalind Okonkwo-Baptiste", "rosalind.ob@example.org", "+44 7700 900462", "GB12ABBY09012934567890",
             "LC-60606-IJ", "Roz", "Rosalind Okonkwobaptiste here (Roslind for short). The price is too high."),
}
# (customer, what must not leave, how it is written in the feedback)
OWN_IDENTIFIER_VARIANTS = [
    ("C001", "ottoline", "name in capitals"),
    ("C001", "brackenbury", "surname in capitals"),
    ("C002", "fotheringay", 'reversed "SURNAME, First"'),
    ("C002", "peregrine", 'first name of reversed "SURNAME, First"'),
    ("C003", "w. q.", "initials"),
    ("C003", "wquattlebaum77", "e-mail local part alone"),
    ("C004", "900459", "own phone in national / bracketed formats"),
    ("C005", "nl91 abna", "own IBAN with spaces, lower case"),
    ("C005", "lc 77777 ef", "own loyalty-card id (identifier column with a space in its name), other separators"),
    ("C005", "delia", 'nickname from the column named nick"name'),
    ("C006", "ignatius", "own e-mail in capitals / first name"),
    ("C007", "okonkwobaptiste", "hyphenated surname joined"),
    ("C007", "roslind", "one-letter misspelling of the first name"),
]

E = "external_llm"
# customers whose external_llm consent must resolve to "no"
EXTERNAL_LLM_NO = {
    "C010": ([("C010", E, "true", "2025-01-01 10:00:00"), ("C010", E, "false", "2025-01-01 10:00:00")],
             "grant and withdrawal with the same timestamp, grant first"),
    "C011": ([("C011", E, "false", "2025-01-01 10:00:00"), ("C011", E, "true", "2025-01-01 10:00:00")],
             "grant and withdrawal with the same timestamp, withdrawal first"),
    "C012": ([("C012", E, "true", "2025-01-01"), ("C012", E, "false", "")], "undated withdrawal vs dated grant"),
    "C013": ([("C013", E, "true", "2025-01-01"), ("c013", E, "false", "2025-02-01")], "withdrawal under the id in lower case"),
    "C014": ([("C014", E, "true", "2025-01-01"), (" C014 ", E, "false", "2025-02-01")], "withdrawal under the id with spaces"),
    "C015": ([("C015", E, "true", "2025-01-01"), ("C015\u00a0", E, "false", "2025-02-01")], "withdrawal under the id + NBSP"),
    "C016": ([("C016", E, "false", "2025-02-01"), ("C016", E, "true", "2099-01-01")], "grant dated 2099 after a withdrawal"),
    "C017": ([("C017", E, "true", "2025-01-01T10:00:00+05:00"), ("C017", E, "false", "2025-01-01 06:00:00Z")],
             "grant 05:00Z (written +05:00) vs withdrawal 06:00Z"),
    "C020": ([], "no external_llm record at all"),
    "C021": ([("C021", E, "true", "2024-01-01"), ("C021", "External-LLM", "false", "2025-01-01")],
             'withdrawal with purpose spelled "External-LLM"'),
}
PROFILING_NO = {
    "C023": [("C023", "profiling", "false", "2025-01-01")],                                   # labelled objector
    "C024": [("c024 ", "profiling", "false", "2025-01-01")],                                  # case/space objection
    "C025": [("C025", "profiling", "true", "2025-01-01"), ("C025", "profiling", "false", "2025-01-01")],  # tie, labelled
}
MARKETING_NO = {
    "C026": [("C026", " marketing ", "false", "2025-01-01")],
    "C027": [("C027", "marketing", "true", "2099-06-01"), ("C027", "marketing", "false", "2025-01-01")],
}
LABELLED_OBJECTORS = ("C023", "C025")


def egress_inputs(d: Path) -> dict:
    rows = base_rows(30)
    header = ["cust_no", "full_name", "mail", "mobile", "iban", "loyalty card", 'nick"name', "note ☃",
              "tenure_months", "monthly_charges", "contract", "left_us"]
    out, fb = [], []
    for r in rows:
        cid = r["customer_id"]
        label = {"1": "gone", "0": "stayed", "": ""}[r["churned"]]
        if cid in LABELLED_OBJECTORS:
            label = "gone"
        if cid == "C024":
            label = ""
        p = PEOPLE.get(cid, (f"Person {cid}", f"{cid.lower()}@example.com", f"+44 7700 9{cid[1:]}99", "", "", "", None))
        out.append([cid, *p[:6], "vip" if cid == "C001" else "", r["tenure_months"], r["monthly_charges"],
                    r["contract"], label])
        fb.append([cid, p[6] or f"The network is slow and the price is high {canary(cid)}.", "F" + cid,
                   "2025-03-01", "email"])
    write_csv(d / "customers.csv", header, out)
    write_csv(d / "feedback.csv", ["customer_id", "text", "feedback_id", "created_at", "channel"], fb)
    consent = []
    for r in rows:
        cid = r["customer_id"]
        consent += [[cid, "profiling", "true", "2024-01-01", "web"], [cid, "marketing", "true", "2024-01-01", "web"]]
        if cid not in EXTERNAL_LLM_NO:
            consent.append([cid, E, "true", "2024-01-01", "web"])
    for recs in (*(v[0] for v in EXTERNAL_LLM_NO.values()), *PROFILING_NO.values(), *MARKETING_NO.values()):
        consent += [[*rec, "edge"] for rec in recs]
    write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    (d / "config.toml").write_text(
        'id_column = "cust_no"\nlabel_column = "left_us"\npositive_label = "gone"\n'
        'identifier_columns = ["full_name", "mail", "mobile", "iban", "loyalty card", \'nick"name\']\n'
        'exclude_columns = ["note ☃"]\n', encoding="utf-8")
    labelled = [row[0] for row in out if row[-1]]
    return dict(args=["--customers", d / "customers.csv", "--feedback", d / "feedback.csv", "--consent",
                      d / "consent.csv", "--data-config", d / "config.toml", "--llm", "openai"],
                labelled=labelled)


# --- attack 4: odd formats (ingest only)
def odd_customers(d: Path, kind: str) -> dict:
    rows = base_rows(30)
    header = ["customer_id", "name", "tenure_months", "monthly_charges", "contract", "churned"]
    data = [[r["customer_id"], "Jürgen Müller" if r["customer_id"] == "C001" else f"Person {r['customer_id']}",
             r["tenure_months"], r["monthly_charges"], r["contract"], r["churned"]] for r in rows]
    enc, delim = "utf-8", ","
    if kind == "latin1":
        enc = "latin-1"
    elif kind == "bom":
        enc = "utf-8-sig"
    elif kind == "semicolon_decimal_comma":
        delim = ";"
        for row in data:
            row[3] = str(row[3]).replace(".", ",")
    elif kind == "duplicate_ids_case_space":
        data[1][0] = "c001 "          # C001 again, other case + trailing space
        data[2][0] = "\u00a0C001"     # and with a leading NBSP
    elif kind == "blank_ids":
        data[3][0], data[4][0] = "", "   "
    path = write_csv(d / f"{kind}.csv", header, data, encoding=enc, delimiter=delim)
    return dict(args=["--customers", path], file=path.name)


# one consent file per run; each case under its own customer so one run shows them all
ODD_DATES = {   # customer -> (records, what) ; the withdrawal is (or may be) the newer record each time
    "C001": ([["C001", E, "false", "31/12/2024", "x"], ["C001", E, "true", "2024-12-30", "x"]], "d/m/Y withdrawal, newer"),
    "C002": ([["C002", E, "false", "2025-01-15", "x"], ["C002", E, "true", "01/02/2025", "x"]], "ambiguous 01/02/2025 grant"),
    "C003": ([["C003", E, "false", "2025-01-15", "x"], ["C003", E, "true", "12/31/2024", "x"]], "m/d/Y grant, older"),
    "C004": ([["C004", E, "true", "2024-01-01", "x"], ["C004", E, "false", "not a date", "x"]], "malformed withdrawal date"),
}
ODD_VALUES = [["C001", E, "Y", "2024-01-01", "x"], ["C002", E, "1", "2024-01-01", "x"],
              ["C003", E, "TRUE", "2024-01-01", "x"],
              ["C006", "External-LLM", "true", "2024-01-01", "x"], ["C007", " marketing ", "true", "2024-01-01", "x"],
              ["C009", "profiling ", "false", "2024-01-01", "x"]]
ODD_GRANTED = [["C004", E, "nope", "2024-01-01", "x"], ["C005", E, "granted?", "2024-01-01", "x"]]
ODD_PURPOSE = [["C008", "marketting", "true", "2024-01-01", "x"]]


def odd_consent(d: Path, kind: str) -> dict:
    if kind == "dates":
        cust, records = odd_customers(d, "plain"), [r for recs, _ in ODD_DATES.values() for r in recs]
    elif kind == "granted":
        cust, records = odd_customers(d, "plain"), ODD_GRANTED
    elif kind == "purpose":
        cust, records = odd_customers(d, "plain"), ODD_PURPOSE
    else:   # values, with a BOM-prefixed customers file
        cust, records = odd_customers(d, "bom"), ODD_VALUES
    path = write_csv(d / f"consent_{kind}.csv", CONSENT_HEADER, records)
    return dict(args=[*cust["args"], "--consent", path], file=path.name, records=records)


def no_feedback_inputs(d: Path) -> dict:
    cust = odd_customers(d, "plain")
    ids = [r["customer_id"] for r in base_rows(30)]
    path = write_csv(d / "consent.csv", CONSENT_HEADER, full_consent(ids))
    return dict(args=[*cust["args"], "--consent", path], file=path.name)

# --------------------------------------------------------------------------- running them
def run(ws: Workspace, *args, server: FakeLLMServer | None = None) -> subprocess.CompletedProcess:
    """`run_pipeline.py --quiet *args --db <ws>` with the stages in this process; with `server`,
    the LLM backends point at it."""
    env = dict(workspace_env(ws), **SMALL_TABLE_MODEL)
    if server is not None:
        env.update(server.env(), WORKBENCH_LLM_RPM="0", WORKBENCH_LLM_TPM="0", WORKBENCH_LLM_PROGRESS="false")
    return cli("--quiet", *args, "--db", ws.db_path, env=env)


def run_built(root: Path, build, *stage_args, llm: bool = False, seed: int = 2):
    """Build inputs under root with `build(folder)`, run them; returns (ws, inputs, result); with
    `llm`, through --llm openai against a fake server, and inputs["bodies"] holds what it received."""
    d = root / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    inputs = build(d)
    ws = Workspace.at(root / "ws")
    if not llm:
        return ws, inputs, run(ws, *inputs["args"], *stage_args)
    with FakeLLMServer(seed=seed) as server:
        backend = [] if "--llm" in inputs["args"] else ["--llm", "openai"]  # an option is given once
        result = run(ws, *inputs["args"], *stage_args, *backend, server=server)
        return ws, dict(inputs, bodies=[r.body for r in server.chat_requests()]), result


def query(ws: Workspace, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tables(ws: Workspace) -> set[str]:
    return {r[0] for r in query(ws, "SELECT table_name FROM information_schema.tables")}


def assert_clean_outcome(result: subprocess.CompletedProcess, *names: str) -> None:
    """Success, or a one-line exit-2 error naming the file (and column); never a traceback."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode in (0, 2), f"exit {result.returncode}: {out[-3000:]}"
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"exit 2 must be one line, got: {result.stderr!r}"
        assert any(n in lines[0] for n in names), f"error does not name {names}: {lines[0]!r}"


@pytest.fixture(scope="session")
def edge_run(tmp_path_factory):
    """Attacks 2 and 3: consent edge cases and identifiers by role, one full run with --llm openai."""
    ws, inputs, result = run_built(tmp_path_factory.mktemp("edge"), egress_inputs, llm=True, seed=1)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return ws, inputs
