"""Governance proven end to end: what leaves the machine, secrets, and consent withdrawal.

The pipeline runs for real (papermill, a temporary DuckDB) with the real openai/groq SDKs pointed
at a fake server on 127.0.0.1 that records every request.
"""
from __future__ import annotations

import re
import secrets
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from churn_workbench import synthetic
from conftest import ROOT, Workspace, pipeline_env
from fake_llm_server import FakeLLMServer

pytestmark = pytest.mark.slow


def _workspace(root) -> Workspace:
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir(parents=True)
    return ws


def _run(ws, *args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *args], cwd=ROOT,
                          env=pipeline_env(ws, **(env or {})), capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def openai_run(tmp_path_factory):
    ws = _workspace(tmp_path_factory.mktemp("egress"))
    with FakeLLMServer(seed=3) as server:
        result = _run(ws, "--synthetic", "300", "--seed", "21", "--llm", "openai",
                      env=dict(server.env(), WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000))
        requests = list(server.chat_requests())
    assert result.returncode == 0, result.stdout + result.stderr
    return ws, requests, synthetic.generate(300, 21)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_requests_were_made_through_the_sdk(openai_run):
    _, requests, _ = openai_run
    assert requests, "no request reached the fake server"
    assert all(r.path == "/v1/chat/completions" for r in requests)


def test_no_identifier_of_any_customer_leaves_the_machine(openai_run):
    _, requests, data = openai_run
    sent = "\n".join(r.body for r in requests)
    sent_lower, sent_digits = sent.lower(), _digits(sent)
    customers = data.customers
    for cid in customers["customer_id"]:
        assert cid not in sent
    for name in customers["name"]:
        for part in [name, *name.split()]:
            assert not re.search(rf"\b{re.escape(part.lower())}\b", sent_lower), f"name {part!r} was sent"
    for email in customers["email"]:
        assert email.lower() not in sent_lower
    for phone in customers["phone"]:
        assert _digits(phone)[-9:] not in sent_digits, f"phone {phone} was sent"
    raw = "\n".join(data.feedback["text"])
    cards = re.findall(r"\b(?:\d{4} ){3}\d{4}\b", raw)
    ibans = re.findall(r"\bDE\d{2}(?: \d{4}){4} \d{2}\b", raw)
    accounts = re.findall(r"ACC-\d{8}", raw)
    assert cards and ibans and accounts, "the synthetic set should carry cards, IBANs and account numbers"
    for value in cards + ibans:
        assert _digits(value) not in sent_digits, f"{value} was sent"
    for value in accounts:
        assert value not in sent


def test_customers_without_external_llm_consent_contribute_no_text(openai_run):
    ws, requests, _ = openai_run
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        rows = con.execute("""
            WITH latest AS (SELECT customer_id, arg_max(granted, recorded_at) AS granted FROM consent
                            WHERE purpose = 'external_llm' GROUP BY customer_id)
            SELECT fa.anonymized_text, fa.status, fa.provider, coalesce(l.granted, false) AS allowed
            FROM feedback_analysis fa LEFT JOIN latest l USING (customer_id)""").df()
    finally:
        con.close()
    refused = rows[~rows["allowed"]]
    assert len(refused) > 0
    assert set(refused["provider"]) == {"local"}, "feedback of a refusing customer went to the external provider"
    allowed_texts = set(rows.loc[rows["allowed"], "anonymized_text"])
    sent_texts = {item["text"] for r in requests if "analysis" in r.json.get("response_format", {}).get("json_schema", {}).get("name", "")
                  for item in r.items}
    assert sent_texts, "no analysis request was recorded"
    assert sent_texts <= allowed_texts


def test_every_request_is_in_the_egress_log_exactly_as_sent(openai_run):
    ws, requests, _ = openai_run
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        logged = {r[0] for r in con.execute("SELECT payload FROM llm_egress").fetchall()}
    finally:
        con.close()
    bodies = [r.json for r in requests]
    import json
    logged_json = [json.loads(p) for p in logged]
    for body in bodies:
        assert body["messages"] in [p.get("messages", p) for p in logged_json]


def test_api_key_canary_is_nowhere_in_the_project(tmp_path):
    ws = _workspace(tmp_path / "project")
    canary = "gsk_CANARY" + secrets.token_hex(16)
    with FakeLLMServer(seed=5) as server:
        env = dict(server.env(keys=False), GROQ_API_KEY=canary, WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000)
        result = _run(ws, "--synthetic", "120", "--llm", "groq", env=env)
        auth = [r.headers for r in server.chat_requests()]
    assert result.returncode == 0, result.stdout + result.stderr
    assert auth, "the groq backend made no request"
    assert canary not in result.stdout + result.stderr
    files = [p for p in ws.root.rglob("*") if p.is_file()] + [p for p in (ROOT / "notebooks").rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for path in files:
        assert canary.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def test_withdrawn_consent_takes_effect_on_the_next_run(tmp_path):
    ws = _workspace(tmp_path / "ws")
    data = synthetic.generate(200, 8)
    files = {name: tmp_path / f"{name}.csv" for name in ("customers", "feedback", "consent")}
    data.customers.to_csv(files["customers"], index=False)
    data.feedback.to_csv(files["feedback"], index=False)
    data.consent.to_csv(files["consent"], index=False)
    args = ["--customers", str(files["customers"]), "--feedback", str(files["feedback"]), "--consent", str(files["consent"])]
    assert _run(ws, *args).returncode == 0

    def scored_and_contacted(run_index):
        con = duckdb.connect(str(ws.db_path), read_only=True)
        try:
            run_id = con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()[run_index][0]
            scored = {r[0] for r in con.execute("SELECT customer_id FROM predictions WHERE run_id = ?", [run_id]).fetchall()}
            acted = {r[0] for r in con.execute("SELECT customer_id FROM actions WHERE run_id = ? AND status <> 'control'", [run_id]).fetchall()}
        finally:
            con.close()
        return scored, acted

    scored, acted = scored_and_contacted(0)
    victim_profiling = sorted(scored)[0]
    victim_marketing = sorted(acted - {victim_profiling})[0]
    # After every synthetic record, but not in the future: future-dated records are ignored.
    later = pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.Timedelta(minutes=1)
    withdrawals = pd.DataFrame([
        {"customer_id": victim_profiling, "purpose": "profiling", "granted": False, "recorded_at": later, "source": "objection"},
        {"customer_id": victim_marketing, "purpose": "marketing", "granted": False, "recorded_at": later, "source": "unsubscribe"},
    ])
    pd.concat([data.consent, withdrawals]).to_csv(files["consent"], index=False)
    second = _run(ws, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    scored2, acted2 = scored_and_contacted(1)
    assert victim_profiling not in scored2 and victim_profiling not in acted2
    assert victim_marketing in scored2 and victim_marketing not in acted2
    assert scored2 == scored - {victim_profiling}


def test_second_run_over_unchanged_feedback_sends_no_analysis_request(tmp_path):
    ws = _workspace(tmp_path / "cache")
    with FakeLLMServer(seed=9) as server:
        env = dict(server.env(), WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000)
        assert _run(ws, "--synthetic", "150", "--llm", "openai", "--stages", "ingest,feedback", env=env).returncode == 0
        first = len(server.chat_requests())
        server.reset()
        second = _run(ws, "--synthetic", "150", "--llm", "openai", "--stages", "ingest,feedback", env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert first > 0 and server.chat_requests() == []


# ------------------------------------------------------------------ the SDK debug log (issue 11, item 4)

def test_sdk_debug_log_never_writes_request_bodies(tmp_path):
    """GROQ_LOG=debug and OPENAI_LOG=debug: no request body reaches a notebook or the terminal."""
    ws = _workspace(tmp_path / "canary")
    with FakeLLMServer(seed=6) as server:
        env = dict(server.env(), GROQ_LOG="debug", OPENAI_LOG="debug", WORKBENCH_LLM_RPM=100000,
                   WORKBENCH_LLM_TPM=10000000)
        result = _run(ws, "--synthetic", "80", "--llm", "groq", "--stages", "ingest,feedback", env=env)
        bodies = [r.body for r in server.chat_requests()]
    assert result.returncode == 0, result.stdout + result.stderr
    assert bodies, "no request was made"
    # Text that is in every request body and nowhere else: the system prompt and body keys.
    canaries = ["You analyse telecom customer feedback", "max_completion_tokens", '"response_format"',
                "Request options", "json_data"]
    captured = result.stdout + result.stderr
    notebooks = list(ws.audit_dir.rglob("*.ipynb"))
    assert notebooks
    for canary in canaries:
        assert canary not in captured, f"{canary!r} reached the terminal"
        for nb in notebooks:
            assert canary not in nb.read_text(), f"{canary!r} reached {nb.name}"


# ------------------------------------------------------------------ write-ahead egress (issue 11 item 5, issue 18 item 9)

def test_sigkill_while_sending_then_resume_records_every_payload_exactly_once(tmp_path):
    import collections
    import json
    import os
    import signal
    import time

    ws = _workspace(tmp_path / "crash")
    with FakeLLMServer(seed=8, latency_s=0.5) as server:
        env = pipeline_env(ws, **server.env(), WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000,
                           WORKBENCH_LLM_BATCH_SIZE=4, WORKBENCH_LLM_CONCURRENCY=2)
        args = [sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--synthetic", "400", "--seed", "4",
                "--llm", "openai", "--stages", "ingest,feedback", "--run-id", "CRASH"]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 300
        # Kill early: the synthetic texts repeat, so the whole stage needs only a handful of requests.
        while len(server.chat_requests()) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # runner and stage kernel, mid-sending
        proc.wait()
        time.sleep(0.5)  # a request in flight may still be arriving at the server
        before_resume = len(server.chat_requests())
        resumed = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--resume", "CRASH",
                                  "--stages", "ingest,feedback"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                                 stdin=subprocess.DEVNULL)
        received = [r.body for r in server.chat_requests()]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        rows = con.execute("SELECT request_id, payload, outcome, attempts FROM llm_egress WHERE run_id = 'CRASH'").fetchall()
        reconciled = con.execute("SELECT count(*) FROM audit_log WHERE event_type = 'llm_egress_reconciled'").fetchone()[0]
        sends = con.execute("SELECT count(*) FROM audit_log WHERE event_type = 'llm_send'").fetchone()[0]
        analysed = con.execute("SELECT status, count(*) FROM feedback_analysis WHERE run_id = 'CRASH' GROUP BY 1").fetchall()
    finally:
        con.close()
    assert len({r[0] for r in rows}) == len(rows), "a request was recorded twice"
    # Every payload the server received is in llm_egress, as many times as it was sent, no more.
    got = collections.Counter(received)
    logged = collections.Counter()
    for _, payload, outcome, attempts in rows:
        logged[payload] += attempts
    missing = got - logged
    assert not missing, f"{sum(missing.values())} received payloads are not in llm_egress"
    extra = logged - got
    # Only a request recorded in the instant between its record and the kill may be unsent.
    interrupted = sum(a for _, _, o, a in rows if o == "interrupted")
    assert sum(extra.values()) <= interrupted <= 2
    assert all(o in ("ok", "partial", "interrupted") for _, _, o, _ in rows)
    assert sends == sum(a for *_, a in rows)  # each attempt chained in the audit log before it left
    assert reconciled <= 1
    # Answers that arrived before the kill were kept: the resume sent only the rest.
    texts_sent = collections.Counter(item["text"] for body in received for item in json.loads(
        json.loads(body)["messages"][-1]["content"]) if "text" in item)
    assert sum(n - 1 for n in texts_sent.values()) <= 2 * 4, "the resume paid again for answered items"
    print("RESUME FIGURES", json.dumps({
        "received_before_kill": before_resume, "received_total": len(received), "egress_rows": len(rows),
        "interrupted_rows": sum(1 for r in rows if r[2] == "interrupted"), "unsent_recorded": sum(extra.values()),
        "texts_sent_twice": sum(n - 1 for n in texts_sent.values()), "analysis_status": dict(analysed)}))
    assert before_resume >= 3 and len(received) > before_resume
    assert sum(n for _, n in analysed) > 0
    verify = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
