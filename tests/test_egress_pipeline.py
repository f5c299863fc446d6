"""Default-deny egress end to end: `run_pipeline.py --llm openai` against a recording server
whose model lies (schema-valid, hostile summaries and other items' words).

Proves, on what really left the machine and what was really stored:
- every string of every item in every recorded request is allowed by the allow rule (common
  word, product term, placeholder or harmless number), and none of the kinds nobody had listed
  (a VIN, a wallet, a rare name, a one-time code, a health detail, digits read out) is in any
  request body;
- no hostile summary is stored with status ok in feedback_analysis, nor cached in
  analysis_cache, nor published in the dashboard snapshot.
"""
from __future__ import annotations

import json

import duckdb
import pytest

from churn_workbench.egress import allow
from conftest import Workspace
from fake_llm_server import FakeLLMServer
from workspaces import run_pipeline
from messy_files import write_rows

pytestmark = pytest.mark.slow

SECRETS = {  # feedback text -> what of it must never leave
    "My VIN is 1HGCM82633A004352 and the car kit drops calls.": ["1HGCM82633A004352"],
    "Refund to my wallet bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh please, the bill is wrong.": ["bc1qxy2k"],
    "The technician Xiomara Przybylski never came, the internet is down.": ["Xiomara", "Przybylski"],
    "My one-time code 482915 did not work, I cannot log in to the app.": ["482915"],
    "I am on dialysis three times a week and need the line to work.": ["dialysis"],
    "Call me back on oh seven nine one one two three four five six, the signal is bad.": [
        "seven nine one one"],
    "Write to jan dot kowalski at gmail dot com, the invoice is wrong.": ["kowalski"],
}
PLAIN = ["The router keeps dropping the connection every evening, please fix it.",
         "Great support today, thanks for the quick help with my bill.",
         "Too expensive for what I get, I will cancel next month."]


class LyingServer(FakeLLMServer):
    """Every summary is hostile: an invented rare name, a defanged URL, another item's words."""

    def answer(self, request, content_faults):
        text = json.loads(super().answer(request, content_faults))
        items = json.loads(request["messages"][-1]["content"])
        hostile = ["Hendrik Vasquez-Oyelaran is unhappy about the router.",
                   "Customer wants the form at hxxps://refund-claim[.]example[.]com/verify resent.",
                   "customer says agent priyanka raghunathan hung up twice."]
        for i, r in enumerate(text.get("results", [])):
            if "summary" in r:
                if len(items) > 1 and i % 4 == 3:
                    r["summary"] = "Customer wrote: " + str(items[(i + 1) % len(items)].get("text", ""))[:110]
                else:
                    r["summary"] = hostile[i % len(hostile)]
        return json.dumps(text)


@pytest.fixture(scope="module")
def lying_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("egress-allow")
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir(parents=True)
    texts = list(SECRETS) + PLAIN * 4
    customers = [dict(customer_id=f"C{i:03d}", name=f"Person{i} Example", email=f"p{i}@example.com",
                      phone=f"+44 7700 9{i:05d}", tenure_months=i % 50 + 1, monthly_charges=20 + i % 70,
                      churned="" if i < 20 else str(i % 2)) for i in range(80)]
    consent = [dict(customer_id=c["customer_id"], purpose=p, granted="true", recorded_at="2024-01-01T00:00:00",
                    source="form") for c in customers for p in ("profiling", "external_llm", "marketing")]
    feedback = [dict(customer_id=f"C{k:03d}", text=t, feedback_id=f"F{k:03d}") for k, t in enumerate(texts)]
    args = ["--customers", str(write_rows(root / "customers.csv", customers)),
            "--feedback", str(write_rows(root / "feedback.csv", feedback)),
            "--consent", str(write_rows(root / "consent.csv", consent))]
    with LyingServer(seed=11) as server:
        result = run_pipeline(ws, *args, "--llm", "openai",
                      env=dict(server.env(), WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000,
                               WORKBENCH_LLM_FALLBACK_THRESHOLD=1.0))
        requests = list(server.chat_requests())
    assert result.returncode == 0, result.stdout + result.stderr
    return ws, requests


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield json.dumps(value)


def test_nothing_outside_the_allow_rule_is_in_any_request(lying_run):
    _, requests = lying_run
    analysis = [r for r in requests if "feedback" in r.json["messages"][0]["content"]]
    assert analysis, "no analysis request reached the server"
    for request in requests:
        for item in request.items:
            item = {k: v for k, v in item.items() if k not in ("ref", "drivers")}  # refs and column names: ours
            for s in _strings(item):
                assert allow.denied(s) == [], s
    sent = "\n".join(r.body for r in requests).lower()
    for secrets in SECRETS.values():
        for secret in secrets:
            assert secret.lower() not in sent, secret


def test_a_hostile_summary_is_stored_nowhere(lying_run):
    ws, _ = lying_run
    markers = ["vasquez", "oyelaran", "hxxps", "raghunathan", "customer wrote"]
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        rows = con.execute("SELECT status, summary FROM feedback_analysis").fetchall()
        cached = " ".join(r[0] for r in con.execute("SELECT result FROM analysis_cache").fetchall()).lower()
    finally:
        con.close()
    assert {status for status, _ in rows} >= {"policy_fallback"}
    for status, summary in rows:
        assert not any(m in summary.lower() for m in markers), (status, summary)
    assert not any(m in cached for m in markers)
    snapshot = ws.data_dir / "snapshot"
    blobs = b"".join(p.read_bytes() for p in snapshot.rglob("*") if p.is_file())
    assert blobs, "no dashboard snapshot was published"
    for m in markers:
        assert m.encode() not in blobs.lower()
