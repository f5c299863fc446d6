"""Hostile inputs, end to end through run_pipeline.py (black box: only the CLI, the DB and the wire).

Four attacks, each written from the README / DESIGN.md / issues 10-11 alone:
1. hostile column headers (CSV and Parquet) must never become SQL and never corrupt the consent
   register; a run either succeeds or fails with a one-line exit-2 error;
2. consent edge cases must resolve to "no" (nothing at the fake server, nothing in llm_egress, not
   scored, not trained on, no action);
3. the customer's own identifiers, known by their role in the data config, must not leave the
   machine in any variant a customer writes (capitals, "SURNAME, First", initials, e-mail local
   part, phone/IBAN/identifier values with other separators, one-letter misspellings);
4. odd file formats (latin-1, BOM, semicolons with decimal commas, duplicate / blank ids, odd
   consent dates and granted values) are read correctly or refused with a one-line exit-2 error.

All pipeline runs are started together (a small pool) when the module's first test asks for one,
so the file costs roughly the longest runs rather than their sum.
"""
from __future__ import annotations

import csv
import json
import os
import random
import re
import subprocess
import sys
import threading
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, Workspace, pipeline_env
from fake_llm_server import FakeLLMServer

pytestmark = pytest.mark.slow

TABLES = ("customers", "feedback", "consent", "feedback_analysis", "predictions", "actions", "llm_egress",
          "audit_log", "model_registry", "runs")
PURPOSES = ("profiling", "external_llm", "marketing")


# --------------------------------------------------------------------------- running the CLI
def _workspace(root: Path) -> Workspace:
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    return ws


def _cli(ws: Workspace, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *map(str, args),
                           "--db", str(ws.db_path)], cwd=ROOT, env=pipeline_env(ws, **(env or {})),
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def _query(ws: Workspace, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _tables(ws: Workspace) -> set[str]:
    return {r[0] for r in _query(ws, "SELECT table_name FROM information_schema.tables")}


def assert_clean_outcome(result: subprocess.CompletedProcess, *names: str) -> None:
    """Success, or a one-line exit-2 error naming the file (and column); never a traceback."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode in (0, 2), f"exit {result.returncode}: {out[-3000:]}"
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"exit 2 must be one line, got: {result.stderr!r}"
        assert any(n in lines[0] for n in names), f"error does not name {names}: {lines[0]!r}"


# --------------------------------------------------------------------------- data builders
def _base_rows(n: int, seed: int = 1, prefix: str = "C") -> list[dict]:
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


def _write_csv(path: Path, header: list[str], rows: list[list], encoding="utf-8", delimiter=",") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CONSENT_HEADER = ["customer_id", "purpose", "granted", "recorded_at", "source"]


def _full_consent(ids, external=lambda j: True) -> list[list]:
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


def _hostile_header_inputs(d: Path, fmt: str) -> dict:
    rows = _base_rows(30)
    headers = dict(HOSTILE_HEADERS, **(PARQUET_ONLY_HEADERS if fmt == "parquet" else {}))
    for i, r in enumerate(rows):
        for name, value in headers.items():
            r[name] = value(i)
    ids = [r["customer_id"] for r in rows]
    if fmt == "csv":
        customers = _write_csv(d / "customers.csv", list(rows[0]), [list(r.values()) for r in rows])
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        customers = d / "customers.parquet"
        pq.write_table(pa.Table.from_pylist(rows), customers)
    consent = _full_consent(ids, external=lambda j: j % 2 == 1)
    _write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    _write_csv(d / "feedback.csv", ["customer_id", "text"],
               [[cid, f"The network is slow and the price is high kw{cid.lower()}zq."] for cid in ids])
    return dict(args=["--customers", customers, "--consent", d / "consent.csv", "--feedback", d / "feedback.csv"],
                consent=consent, ids=ids, file=customers.name)


def _case_only_header_inputs(d: Path) -> dict:
    rows = _base_rows(30)
    for r in rows:
        r["Tenure_Months"] = r["tenure_months"] + 1     # differs from tenure_months only in case
        r["CONTRACT"] = r["contract"].upper()
    ids = [r["customer_id"] for r in rows]
    customers = _write_csv(d / "case_customers.csv", list(rows[0]), [list(r.values()) for r in rows])
    consent = _full_consent(ids, external=lambda j: False)
    _write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    _write_csv(d / "feedback.csv", ["customer_id", "text"], [[cid, "Fine."] for cid in ids])
    return dict(args=["--customers", customers, "--consent", d / "consent.csv", "--feedback", d / "feedback.csv"],
                consent=consent, ids=ids, file=customers.name)


def _case_only_role_inputs(d: Path) -> dict:
    """Two identifier columns whose names differ only in case, both named in the data config."""
    rows = _base_rows(30)
    header = ["customer_id", "account", "ACCOUNT", "tenure_months", "monthly_charges", "contract", "churned"]
    data = [[r["customer_id"], f"ACC-{i:04d}-LOW", f"ACCT-{5500 + i}-ZZ", r["tenure_months"], r["monthly_charges"],
             r["contract"], r["churned"]] for i, r in enumerate(rows)]
    customers = _write_csv(d / "case_roles.csv", header, data)
    ids = [r["customer_id"] for r in rows]
    consent = _write_csv(d / "consent.csv", CONSENT_HEADER, _full_consent(ids))
    feedback = _write_csv(d / "feedback.csv", ["customer_id", "text"],
                          [[row[0], f"My account {row[2]} was charged twice, the price is too high."] for row in data])
    (d / "config.toml").write_text('identifier_columns = ["account", "ACCOUNT"]\n', encoding="utf-8")
    return dict(args=["--customers", customers, "--consent", consent, "--feedback", feedback,
                      "--data-config", d / "config.toml"], file=customers.name, secrets=[row[2] for row in data])


# --- attacks 2 and 3: consent edge cases and identifiers by role, one run with --llm openai
def canary(cid: str) -> str:
    return f"kw{cid.lower()}zq"


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


def _egress_inputs(d: Path) -> dict:
    rows = _base_rows(30)
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
    _write_csv(d / "customers.csv", header, out)
    _write_csv(d / "feedback.csv", ["customer_id", "text", "feedback_id", "created_at", "channel"], fb)
    consent = []
    for r in rows:
        cid = r["customer_id"]
        consent += [[cid, "profiling", "true", "2024-01-01", "web"], [cid, "marketing", "true", "2024-01-01", "web"]]
        if cid not in EXTERNAL_LLM_NO:
            consent.append([cid, E, "true", "2024-01-01", "web"])
    for recs in (*(v[0] for v in EXTERNAL_LLM_NO.values()), *PROFILING_NO.values(), *MARKETING_NO.values()):
        consent += [[*rec, "edge"] for rec in recs]
    _write_csv(d / "consent.csv", CONSENT_HEADER, consent)
    (d / "config.toml").write_text(
        'id_column = "cust_no"\nlabel_column = "left_us"\npositive_label = "gone"\n'
        'identifier_columns = ["full_name", "mail", "mobile", "iban", "loyalty card", \'nick"name\']\n'
        'exclude_columns = ["note ☃"]\n', encoding="utf-8")
    labelled = [row[0] for row in out if row[-1]]
    return dict(args=["--customers", d / "customers.csv", "--feedback", d / "feedback.csv", "--consent",
                      d / "consent.csv", "--data-config", d / "config.toml", "--llm", "openai"],
                labelled=labelled)


# --- attack 4: odd formats (ingest only)
def _odd_customers(d: Path, kind: str) -> dict:
    rows = _base_rows(30)
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
    path = _write_csv(d / f"{kind}.csv", header, data, encoding=enc, delimiter=delim)
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


def _odd_consent(d: Path, kind: str) -> dict:
    if kind == "dates":
        cust, records = _odd_customers(d, "plain"), [r for recs, _ in ODD_DATES.values() for r in recs]
    elif kind == "granted":
        cust, records = _odd_customers(d, "plain"), ODD_GRANTED
    elif kind == "purpose":
        cust, records = _odd_customers(d, "plain"), ODD_PURPOSE
    else:   # values, with a BOM-prefixed customers file
        cust, records = _odd_customers(d, "bom"), ODD_VALUES
    path = _write_csv(d / f"consent_{kind}.csv", CONSENT_HEADER, records)
    return dict(args=[*cust["args"], "--consent", path], file=path.name, records=records)


def _no_feedback_inputs(d: Path) -> dict:
    cust = _odd_customers(d, "plain")
    ids = [r["customer_id"] for r in _base_rows(30)]
    path = _write_csv(d / "consent.csv", CONSENT_HEADER, _full_consent(ids))
    return dict(args=[*cust["args"], "--consent", path], file=path.name)


# --------------------------------------------------------------------------- all runs, started together
def _keep(name: str, result: subprocess.CompletedProcess) -> None:
    """With HOSTILE_RESULTS_DIR set, keep each run's exit code and output (for the attack report)."""
    target = os.environ.get("HOSTILE_RESULTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        Path(target, f"{name}.txt").write_text(
            f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}", encoding="utf-8")


class Runs:
    """Builds every input set and starts every pipeline run in a small pool on first use."""

    def __init__(self, base: Path):
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=3)
        self.futures: dict[str, Future] = {}
        self.lock = threading.Lock()

    def _plain(self, name: str, build, *stage_args, env=None, server=False):
        def job():
            d = self.base / name
            d.mkdir(parents=True)
            inputs = build(d)
            ws = _workspace(d / "ws")
            if not server:
                result = _cli(ws, *inputs["args"], *stage_args, env=env)
            else:
                with FakeLLMServer(seed=2) as fake:
                    result = _cli(ws, *inputs["args"], *stage_args, "--llm", "openai",
                                  env=dict(fake.env(), WORKBENCH_LLM_RPM=0, WORKBENCH_LLM_TPM=0))
                    inputs = dict(inputs, bodies=[r.body for r in fake.chat_requests()])
            _keep(name, result)
            return ws, inputs, result
        return job

    def _egress(self):
        d = self.base / "egress"
        d.mkdir(parents=True)
        inputs = _egress_inputs(d)
        ws = _workspace(d / "ws")
        with FakeLLMServer(seed=1) as server:
            result = _cli(ws, *inputs["args"], env=dict(server.env(), WORKBENCH_LLM_RPM=0, WORKBENCH_LLM_TPM=0))
            bodies = [r.body for r in server.chat_requests()]
        _keep("egress", result)
        return ws, dict(inputs, bodies=bodies), result

    def start(self) -> None:
        with self.lock:
            if self.futures:
                return
            jobs = {"egress": self._egress,
                    "headers_csv": self._plain("headers_csv", lambda d: _hostile_header_inputs(d, "csv")),
                    "headers_parquet": self._plain("headers_parquet", lambda d: _hostile_header_inputs(d, "parquet")),
                    "headers_case": self._plain("headers_case", _case_only_header_inputs)}
            jobs["no_feedback"] = self._plain("no_feedback", _no_feedback_inputs, "--stages", "ingest,feedback")
            for kind in ("latin1", "semicolon_decimal_comma", "duplicate_ids_case_space", "blank_ids"):
                jobs[f"odd_{kind}"] = self._plain(f"odd_{kind}", lambda d, k=kind: _odd_customers(d, k),
                                                  "--stages", "ingest")
            for kind in ("dates", "values", "granted", "purpose"):
                jobs[f"consent_{kind}"] = self._plain(f"consent_{kind}", lambda d, k=kind: _odd_consent(d, k),
                                                      "--stages", "ingest")
            jobs["headers_case_roles"] = self._plain("headers_case_roles", _case_only_role_inputs,
                                                     "--stages", "ingest,feedback", env=None, server=True)
            only = [n for n in os.environ.get("HOSTILE_RUNS", "").split(",") if n]   # to rerun a few while debugging
            for name, job in jobs.items():
                if not only or name in only:
                    self.futures[name] = self.pool.submit(job)

    def get(self, name: str):
        self.start()
        return self.futures[name].result()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    r = Runs(tmp_path_factory.mktemp("hostile"))
    yield r
    r.pool.shutdown(wait=True)


# =========================================================================== 1. hostile headers
@pytest.fixture(params=["headers_csv", "headers_parquet"])
def header_run(request, runs):
    return runs.get(request.param)


def test_hostile_headers_succeed_or_fail_in_one_line(header_run):
    ws, inputs, result = header_run
    assert_clean_outcome(result, inputs["file"])


def test_hostile_headers_whole_pipeline_succeeds(header_run):
    """Column names may contain spaces, quotes and any Unicode (issue 10): the run should finish."""
    ws, inputs, result = header_run
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    # Everyone is scored except customers labelled as churned (history: training data only, issue 14).
    active = _query(ws, "SELECT count(*) FROM customers WHERE churned IS DISTINCT FROM 1")[0][0]
    assert 0 < active < len(inputs["ids"])
    assert _query(ws, "SELECT count(*) FROM predictions")[0][0] == active


def test_hostile_headers_leave_consent_register_intact(header_run):
    ws, inputs, result = header_run
    stored = sorted((c, p, bool(g)) for c, p, g in _query(ws, "SELECT customer_id, purpose, granted FROM consent"))
    expected = sorted((c, p, g == "true") for c, p, g, *_ in inputs["consent"])
    assert stored == expected


def test_hostile_headers_leave_every_table_in_place(header_run):
    ws, inputs, result = header_run
    assert set(TABLES) <= _tables(ws)
    assert _query(ws, "SELECT count(*) FROM customers")[0][0] == len(inputs["ids"])
    assert _query(ws, "SELECT count(*) FROM llm_egress")[0][0] == 0   # offline analyzer
    # nothing was granted beyond the file: the external_llm decision counts half the customers
    events = [json.loads(d) for (d,) in _query(
        ws, "SELECT details FROM audit_log WHERE event_type = 'consent_checked'")]
    for ev in events:
        if ev.get("purpose") == E:
            assert ev["allowed"] == len(inputs["ids"]) // 2, ev


def test_hostile_headers_audit_chain_verifies(header_run):
    ws, inputs, result = header_run
    verify = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "verify", "--db", str(ws.db_path)],
                            cwd=ROOT, env=pipeline_env(ws), capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_header_names_differing_only_in_case(runs):
    """`tenure_months` and `Tenure_Months` (DuckDB identifiers are case-insensitive): success, or exit 2 naming it."""
    ws, inputs, result = runs.get("headers_case")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 2:
        assert "Tenure_Months" in result.stderr or "tenure_months" in result.stderr.lower()
    if ws.db_path.exists() and "consent" in _tables(ws):
        stored = _query(ws, "SELECT count(*) FROM consent WHERE purpose = 'external_llm' AND granted")[0][0]
        assert stored == 0


def test_identifier_columns_differing_only_in_case_keep_their_role(runs):
    """`account` and `ACCOUNT`, both identifier columns: refused in one line, or neither value leaves the machine."""
    ws, inputs, result = runs.get("headers_case_roles")
    assert_clean_outcome(result, inputs["file"], "config.toml")
    if result.returncode == 0:
        sent = "\n".join(inputs["bodies"])
        assert inputs["bodies"], "nothing was sent: the test would pass vacuously"
        leaked = [v for v in inputs["secrets"] if v in sent]
        assert not leaked, f"{len(leaked)} values of the identifier column ACCOUNT reached the fake server, e.g. {leaked[0]}"


# =========================================================================== 2. consent edge cases
@pytest.fixture
def egress(runs):
    ws, inputs, result = runs.get("egress")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return ws, inputs


def _sent_texts(inputs) -> str:
    return "\n".join(inputs["bodies"])


def _egress_payloads(ws) -> str:
    return "\n".join(p or "" for (p,) in _query(ws, "SELECT payload FROM llm_egress"))


def test_consenting_customers_text_does_reach_the_fake_server(egress):
    """Guards the tests below against passing vacuously."""
    ws, inputs = egress
    assert inputs["bodies"], "no request reached the fake server"
    assert canary("C008") in _sent_texts(inputs)
    assert canary("C008") in _egress_payloads(ws)


@pytest.mark.parametrize("cid", sorted(EXTERNAL_LLM_NO), ids=lambda c: f"{c}-{EXTERNAL_LLM_NO[c][1]}")
def test_without_external_llm_consent_nothing_leaves(egress, cid):
    ws, inputs = egress
    assert canary(cid) not in _sent_texts(inputs), EXTERNAL_LLM_NO[cid][1]
    assert canary(cid) not in _egress_payloads(ws), EXTERNAL_LLM_NO[cid][1]
    providers = {p for (p,) in _query(ws, "SELECT provider FROM feedback_analysis WHERE customer_id = ?", [cid])}
    assert "openai" not in providers


def test_future_dated_records_are_ignored_and_reported(egress):
    ws, _ = egress
    events = [json.loads(d) for (d,) in _query(ws, "SELECT details FROM audit_log WHERE event_type = 'consent_checked'")]
    assert any(ev.get("future_dated_ignored", 0) >= 1 for ev in events if ev.get("purpose") == E)
    assert any(ev.get("future_dated_ignored", 0) >= 1 for ev in events if ev.get("purpose") == "marketing")


@pytest.mark.parametrize("cid", sorted(PROFILING_NO))
def test_profiling_objector_is_not_scored(egress, cid):
    ws, _ = egress
    assert _query(ws, "SELECT count(*) FROM predictions WHERE trim(lower(customer_id)) = ?", [cid.lower()])[0][0] == 0


def test_profiling_objectors_are_not_in_training_data(egress):
    """README: no `profiling` -> not scored and not used to train the model."""
    ws, inputs = egress
    allowed_labelled = [c for c in inputs["labelled"] if c not in PROFILING_NO]
    (n_train,) = _query(ws, "SELECT n_train FROM model_registry ORDER BY trained_at DESC LIMIT 1")[0]
    assert n_train == len(allowed_labelled), (
        f"model trained on {n_train} rows; {len(inputs['labelled'])} labelled customers, of whom "
        f"{len(inputs['labelled']) - len(allowed_labelled)} objected to profiling ({', '.join(LABELLED_OBJECTORS)})")


@pytest.mark.parametrize("cid", sorted(MARKETING_NO))
def test_marketing_objector_gets_no_action(egress, cid):
    ws, _ = egress
    assert _query(ws, "SELECT count(*) FROM actions WHERE customer_id = ? AND status <> 'control'", [cid])[0][0] == 0


# =========================================================================== 3. identifiers by role
def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@pytest.mark.parametrize("cid,needle,how", OWN_IDENTIFIER_VARIANTS, ids=[f"{c}-{h}" for c, _, h in OWN_IDENTIFIER_VARIANTS])
def test_own_identifier_variant_never_leaves(egress, cid, needle, how):
    ws, inputs = egress
    sent = _norm(_sent_texts(inputs))
    stored = _norm(_egress_payloads(ws))
    anonymized = _norm(" ".join(t or "" for (t,) in _query(
        ws, "SELECT anonymized_text FROM feedback_analysis WHERE customer_id = ?", [cid])))
    assert needle not in sent, f"{how}: {needle!r} reached the fake server"
    assert needle not in stored, f"{how}: {needle!r} is in llm_egress"
    assert needle not in anonymized, f"{how}: {needle!r} is in feedback_analysis.anonymized_text"


def test_no_identifier_column_value_or_id_leaves(egress):
    ws, inputs = egress
    sent = _sent_texts(inputs)
    compact = re.sub(r"[^0-9a-z]", "", sent.lower())
    assert not re.search(r"\bC0\d\d\b", sent), "a customer id left the machine"
    for cid, person in PEOPLE.items():
        full_name, mail, mobile, iban = person[:4]
        assert mail.lower() not in sent.lower()
        assert re.sub(r"\D", "", mobile)[-9:] not in re.sub(r"\D", "", sent), f"{cid} phone"
        assert re.sub(r"[^0-9a-z]", "", iban.lower()) not in compact, f"{cid} IBAN"
        for part in full_name.lower().replace("-", " ").split():
            assert not re.search(rf"\b{re.escape(part)}\b", sent.lower()), f"{cid} name part {part!r}"
    assert "vip" not in sent.lower()      # excluded column


# =========================================================================== 4. odd formats
def test_latin1_customers_file_read_correctly_or_refused(runs):
    ws, inputs, result = runs.get("odd_latin1")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        names = [n for (n,) in _query(ws, "SELECT name FROM customers WHERE customer_id = 'C001'")]
        assert names == ["Jürgen Müller"], f"latin-1 names stored as {names!r} (mojibake would defeat own-name matching)"


def test_semicolon_export_with_decimal_commas(runs):
    ws, inputs, result = runs.get("odd_semicolon_decimal_comma")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        cols = {c: t for c, t in _query(
            ws, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'")}
        assert "monthly_charges" in cols, f"file read as one column: {cols}"
        expected = _base_rows(30)[0]["monthly_charges"]
        (value,) = _query(ws, "SELECT monthly_charges FROM customers WHERE customer_id = 'C001'")[0]
        assert float(value) == pytest.approx(expected), f"76,92-style value stored as {value!r}"


def test_duplicate_ids_differing_by_case_or_space(runs):
    """C001, "c001 " and NBSP+"C001": refused in one line, or kept apart (never silently merged or dropped)."""
    ws, inputs, result = runs.get("odd_duplicate_ids_case_space")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        assert _query(ws, "SELECT count(*) FROM customers")[0][0] == 30, "a customer row was merged or dropped"


def test_blank_ids_are_refused_or_never_stored(runs):
    ws, inputs, result = runs.get("odd_blank_ids")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        assert _query(ws, "SELECT count(*) FROM customers WHERE customer_id IS NULL OR trim(customer_id) = ''")[0][0] == 0


def test_customers_without_feedback_file(runs):
    """`--feedback` is optional (`--customers c.csv [--feedback f.csv] [--consent k.csv]`)."""
    ws, inputs, result = runs.get("no_feedback")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 0, (result.stdout + result.stderr)[-1500:]


@pytest.mark.parametrize("cid", sorted(ODD_DATES), ids=lambda c: ODD_DATES[c][1])
def test_odd_consent_dates_never_let_a_grant_win(runs, cid):
    """Refused (one line naming the file and recorded_at), or stored so that the withdrawal still wins."""
    ws, inputs, result = runs.get("consent_dates")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 2:
        assert "recorded_at" in result.stderr
        return
    recs = _query(ws, "SELECT granted, recorded_at FROM consent WHERE customer_id = ? AND purpose = ?", [cid, E])
    grants = [t for g, t in recs if g]
    withdrawals = [t for g, t in recs if not g]
    assert withdrawals, "the withdrawal was dropped"
    assert (not grants or any(w is None for w in withdrawals) or None in grants
            or max(withdrawals) >= max(grants)), f"stored so that the grant wins: {recs}"


def test_bom_customers_file_keeps_the_id_column(runs):
    ws, inputs, result = runs.get("consent_values")
    assert_clean_outcome(result, inputs["file"], "bom.csv")
    assert result.returncode == 0, result.stderr
    if result.returncode == 0:
        cols = [c for (c,) in _query(
            ws, "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers'")]
        assert not any("\ufeff" in c for c in cols), cols
        assert _query(ws, "SELECT count(*) FROM customers WHERE customer_id = 'C001'")[0][0] == 1


def test_odd_granted_values_and_purposes_never_become_a_grant(runs):
    ws, inputs, result = runs.get("consent_values")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        stored = {(c, p): g for c, p, g in _query(ws, "SELECT customer_id, purpose, granted FROM consent")}
        purposes = {p for _, p in stored}
        assert purposes <= set(PURPOSES), f"unknown purposes stored: {purposes - set(PURPOSES)}"


def test_unparseable_granted_values_never_become_a_grant(runs):
    ws, inputs, result = runs.get("consent_granted")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        stored = dict(_query(ws, "SELECT customer_id, granted FROM consent WHERE purpose = ?", [E]))
        assert stored.get("C004") is not True, '"nope" stored as a grant'
        assert stored.get("C005") is not True, '"granted?" stored as a grant'


def test_misspelled_purpose_never_becomes_a_grant(runs):
    ws, inputs, result = runs.get("consent_purpose")
    assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        assert _query(ws, "SELECT count(*) FROM consent WHERE customer_id = 'C008' AND granted")[0][0] == 0
