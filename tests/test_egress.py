"""What leaves the machine: only anonymized text of consenting customers, no identifier in any
variant, every request recorded (before it leaves) exactly as sent, no key and no request body
anywhere but the request itself.

The real openai/groq SDKs talk to a fake server on 127.0.0.1 that records every request. Most
checks read the built `openai` workspace (tests/workspaces.py: a real run, PII probes in six
languages included); the identifier-by-role attack is one run with its stages in this process
(tests/hostile_inputs.py); a key canary, the SDKs' debug logs and a crash while sending each need
a run of their own.
"""
from __future__ import annotations

import collections
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import unicodedata

import duckdb
import pandas as pd
import pytest

import hostile_inputs as hi
from conftest import ROOT, Workspace, pipeline_env
from fake_llm_server import FakeLLMServer
from hostile_inputs import edge_run  # noqa: F401  (fixture)
from pii_probes import PROBES, leaks
from workspaces import llm_env, run_pipeline


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _rows(db_path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _table_text(db_path, table: str) -> list[str]:
    """One line per row, every value as text."""
    return [json.dumps([str(v) for v in row], ensure_ascii=False) for row in _rows(db_path, f"SELECT * FROM {table}")]


def _snapshot_text(data_dir) -> list[str]:
    out = []
    con = duckdb.connect()
    for p in sorted((data_dir / "snapshot").rglob("*.parquet")):
        for row in con.execute("SELECT * FROM read_parquet(?)", [str(p)]).fetchall():
            out.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    con.close()
    return out


# --------------------------------------------------------------------------- the built openai workspace
@pytest.fixture(scope="module")
def llm_run(built_openai):
    """What the built run sent, stored and published (read once; nothing here changes the workspace)."""
    ws = built_openai.restore()
    requests = built_openai.requests()
    inputs = {name: pd.read_csv(ws.root / "inputs" / f"{name}.csv") for name in ("customers", "feedback", "consent")}
    probes = built_openai.probes()
    sent = [str(item.get("text", item)) for r in requests for item in json.loads(json.loads(r["body"])["messages"][-1]["content"])]
    return {"ws": ws, "requests": requests, "inputs": inputs, "probes": probes, "sent": sent,
            "egress": _table_text(ws.db_path, "llm_egress"),
            "anonymized": [t or "" for (t,) in _rows(ws.db_path, "SELECT anonymized_text FROM feedback_analysis")],
            "snapshot": _snapshot_text(ws.data_dir)}


def test_requests_were_made_through_the_sdk(llm_run):
    assert llm_run["requests"], "no request reached the fake server"
    assert all(r["path"] == "/v1/chat/completions" for r in llm_run["requests"])


def test_no_identifier_of_any_customer_leaves_the_machine(llm_run):
    sent = "\n".join(r["body"] for r in llm_run["requests"])
    sent_lower, sent_digits = sent.lower(), _digits(sent)
    customers = llm_run["inputs"]["customers"]
    for cid in customers["customer_id"]:
        assert cid not in sent
    for name in customers["name"]:
        for part in [name, *name.split()]:
            assert not re.search(rf"\b{re.escape(part.lower())}\b", sent_lower), f"name {part!r} was sent"
    for email in customers["email"]:
        assert email.lower() not in sent_lower
    for phone in customers["phone"]:
        assert _digits(phone)[-9:] not in sent_digits, f"phone {phone} was sent"
    raw = "\n".join(llm_run["inputs"]["feedback"]["text"])
    cards = re.findall(r"\b(?:\d{4} ){3}\d{4}\b", raw)
    ibans = re.findall(r"\bDE\d{2}(?: \d{4}){4} \d{2}\b", raw)
    accounts = re.findall(r"ACC-\d{8}", raw)
    assert cards and ibans and accounts, "the synthetic set should carry cards, IBANs and account numbers"
    for value in cards + ibans:
        assert _digits(value) not in sent_digits, f"{value} was sent"
    for value in accounts:
        assert value not in sent


def test_customers_without_external_llm_consent_contribute_no_text(llm_run):
    rows = pd.DataFrame(_rows(llm_run["ws"].db_path, """
        WITH latest AS (SELECT customer_id, arg_max(granted, recorded_at) AS granted FROM consent
                        WHERE purpose = 'external_llm' GROUP BY customer_id)
        SELECT fa.anonymized_text, fa.status, fa.provider, coalesce(l.granted, false) AS allowed
        FROM feedback_analysis fa LEFT JOIN latest l USING (customer_id)"""),
                        columns=["anonymized_text", "status", "provider", "allowed"])
    refused = rows[~rows["allowed"]]
    assert len(refused) > 0
    assert set(refused["provider"]) == {"local"}, "feedback of a refusing customer went to the external provider"
    allowed_texts = set(rows.loc[rows["allowed"], "anonymized_text"])
    bodies = [json.loads(r["body"]) for r in llm_run["requests"]]
    sent_texts = {item["text"] for b in bodies if "analysis" in b.get("response_format", {}).get("json_schema", {}).get("name", "")
                  for item in json.loads(b["messages"][-1]["content"])}
    assert sent_texts, "no analysis request was recorded"
    assert sent_texts <= allowed_texts


def test_every_request_is_in_the_egress_log_exactly_as_sent(llm_run):
    logged = [json.loads(p) for (p,) in _rows(llm_run["ws"].db_path, "SELECT payload FROM llm_egress")]
    logged_messages = [p.get("messages", p) for p in logged]
    for r in llm_run["requests"]:
        assert json.loads(r["body"])["messages"] in logged_messages


# --- the PII probes (tests/pii_probes.py): in what was sent, stored, anonymized and published
def test_the_probes_were_sent(llm_run):
    """Guards the probe tests against passing vacuously: probes did leave (anonymized); one the
    request gate kept home would be audited instead."""
    sent = _rows(llm_run["ws"].db_path, "SELECT anonymized_text FROM feedback_analysis "
                                        "WHERE feedback_id LIKE 'PROBE%' AND provider = 'openai'")
    assert sent and all(t in llm_run["sent"] for (t,) in sent)


@pytest.mark.parametrize("probe,text,secrets", PROBES, ids=[p[0] for p in PROBES])
@pytest.mark.parametrize("where", ["sent", "egress", "anonymized", "snapshot"])
def test_pii_of_the_probes_stays_home(llm_run, where, probe, text, secrets):
    """Not sent to the LLM, not in llm_egress, not in feedback_analysis.anonymized_text, not in the
    dashboard snapshot."""
    leaked = {sec: leaks(sec, llm_run[where]) for sec in secrets}
    leaked = {k: v[:2] for k, v in leaked.items() if v}
    assert not leaked, f"{where} holds {leaked}"


@pytest.mark.parametrize("probe,kept", [("C002", "Steuer-ID ist "), ("C003", " y mi pasaporte")])
def test_replacement_keeps_neighbouring_words(llm_run, probe, kept):
    """Replacement is exact: the words around a placeholder survive."""
    number = [label for label, _, _ in PROBES].index(probe) + 1
    (text,) = _rows(llm_run["ws"].db_path, "SELECT anonymized_text FROM feedback_analysis WHERE feedback_id = ?",
                    [f"PROBE{number:02d}"])[0]
    assert kept in text, f"{probe}: {text!r}"


# --------------------------------------------------------------------------- identifiers known by their role
def _sent_texts(inputs) -> str:
    return "\n".join(inputs["bodies"])


def _egress_payloads(ws) -> str:
    return "\n".join(p or "" for (p,) in hi.query(ws, "SELECT payload FROM llm_egress"))


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def test_consenting_customers_text_does_reach_the_fake_server(edge_run):
    """Guards the tests below (and the consent edge cases in test_consent.py) against passing vacuously."""
    ws, inputs = edge_run
    assert inputs["bodies"], "no request reached the fake server"
    assert hi.canary("C008") in _sent_texts(inputs)
    assert hi.canary("C008") in _egress_payloads(ws)


@pytest.mark.parametrize("cid,needle,how", hi.OWN_IDENTIFIER_VARIANTS,
                         ids=[f"{c}-{h}" for c, _, h in hi.OWN_IDENTIFIER_VARIANTS])
def test_own_identifier_variant_never_leaves(edge_run, cid, needle, how):
    ws, inputs = edge_run
    sent = _norm(_sent_texts(inputs))
    stored = _norm(_egress_payloads(ws))
    anonymized = _norm(" ".join(t or "" for (t,) in hi.query(
        ws, "SELECT anonymized_text FROM feedback_analysis WHERE customer_id = ?", [cid])))
    assert needle not in sent, f"{how}: {needle!r} reached the fake server"
    assert needle not in stored, f"{how}: {needle!r} is in llm_egress"
    assert needle not in anonymized, f"{how}: {needle!r} is in feedback_analysis.anonymized_text"


def test_no_identifier_column_value_or_id_leaves(edge_run):
    ws, inputs = edge_run
    sent = _sent_texts(inputs)
    compact = re.sub(r"[^0-9a-z]", "", sent.lower())
    assert not re.search(r"\bC0\d\d\b", sent), "a customer id left the machine"
    for cid, person in hi.PEOPLE.items():
        full_name, mail, mobile, iban = person[:4]
        assert mail.lower() not in sent.lower()
        assert re.sub(r"\D", "", mobile)[-9:] not in re.sub(r"\D", "", sent), f"{cid} phone"
        assert re.sub(r"[^0-9a-z]", "", iban.lower()) not in compact, f"{cid} IBAN"
        for part in full_name.lower().replace("-", " ").split():
            assert not re.search(rf"\b{re.escape(part)}\b", sent.lower()), f"{cid} name part {part!r}"
    assert "vip" not in sent.lower()      # excluded column


def test_identifier_columns_differing_only_in_case_keep_their_role(tmp_path):
    """`account` and `ACCOUNT`, both identifier columns: refused in one line, or neither value leaves the machine."""
    ws, inputs, result = hi.run_built(tmp_path, hi.case_only_role_inputs, "--stages", "ingest,feedback", llm=True)
    hi.assert_clean_outcome(result, inputs["file"], "config.toml")
    if result.returncode == 0:
        sent = "\n".join(inputs["bodies"])
        assert inputs["bodies"], "nothing was sent: the test would pass vacuously"
        leaked = [v for v in inputs["secrets"] if v in sent]
        assert not leaked, f"{len(leaked)} values of the identifier column ACCOUNT reached the fake server, e.g. {leaked[0]}"


# --------------------------------------------------------------------------- caching: nothing is sent twice
def test_second_run_over_unchanged_feedback_sends_no_analysis_request(tmp_path):
    ws = Workspace.at(tmp_path)
    with FakeLLMServer(seed=9) as server:
        first = hi.run(ws, "--synthetic", "60", "--llm", "openai", "--stages", "ingest,feedback", server=server)
        assert first.returncode == 0, first.stdout + first.stderr
        sent_first = len(server.chat_requests())
        server.reset()
        second = hi.run(ws, "--synthetic", "60", "--llm", "openai", "--stages", "ingest,feedback", server=server)
        assert second.returncode == 0, second.stdout + second.stderr
        assert sent_first > 0 and server.chat_requests() == []


# --------------------------------------------------------------------------- runs of their own (real kernels)
@pytest.mark.slow
def test_api_key_and_request_bodies_are_nowhere_but_in_the_request(tmp_path):
    """A canary API key is in no file of the workspace, no notebook and no output; with the SDKs'
    debug logging asked for (GROQ_LOG=debug, OPENAI_LOG=debug), no request body reaches a
    notebook or the terminal either."""
    ws = Workspace.at(tmp_path / "project")
    canary = "gsk_CANARY" + secrets.token_hex(16)
    with FakeLLMServer(seed=5) as server:
        env = dict(server.env(keys=False), GROQ_API_KEY=canary, GROQ_LOG="debug", OPENAI_LOG="debug",
                   WORKBENCH_LLM_RPM=0, WORKBENCH_LLM_TPM=0)
        result = run_pipeline(ws, "--synthetic", "80", "--llm", "groq", env=env)
        requests = server.chat_requests()
    assert result.returncode == 0, result.stdout + result.stderr
    assert requests, "the groq backend made no request"
    assert {r.path for r in requests} == {"/openai/v1/chat/completions"}
    captured = result.stdout + result.stderr
    assert canary not in captured
    files = [p for p in ws.root.rglob("*") if p.is_file()] + [p for p in (ROOT / "notebooks").rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for path in files:
        assert canary.encode() not in path.read_bytes(), f"the API key leaked into {path}"
    # Text that is in every request body and nowhere else: the system prompt and body keys.
    body_canaries = ["You analyse telecom customer feedback", "max_completion_tokens", '"response_format"',
                     "Request options", "json_data"]
    assert body_canaries[0] in requests[0].body   # else the checks below prove nothing
    notebooks = list(ws.audit_dir.rglob("*.ipynb"))
    assert len(notebooks) == 5
    for c in body_canaries:
        assert c not in captured, f"{c!r} reached the terminal"
        for nb in notebooks:
            assert c not in nb.read_text(), f"{c!r} reached {nb.name}"


@pytest.mark.slow
def test_sigkill_while_sending_then_resume_records_every_payload_exactly_once(tmp_path):
    """Write-ahead egress: what left the machine is recorded before it leaves, so a crash hides nothing."""
    ws = Workspace.at(tmp_path / "crash")
    with FakeLLMServer(seed=8, latency_s=0.5) as server:
        env = pipeline_env(ws, **llm_env(server), WORKBENCH_LLM_BATCH_SIZE=4, WORKBENCH_LLM_CONCURRENCY=2)
        args = [sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--synthetic", "400", "--seed", "4",
                "--llm", "openai", "--stages", "ingest,feedback", "--run-id", "CRASH"]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 600
        # Kill early: the synthetic texts repeat, so the whole stage needs only a handful of requests.
        while len(server.chat_requests()) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)   # polling what the server has received
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # runner and stage kernel, mid-sending
        proc.wait()
        # A request the client had sent before it died may still be on its way in: wait until the
        # server has accepted and recorded everything, so "received" is complete.
        assert server.wait_idle(60), "the fake server is still busy a minute after the kill"
        before_resume = len(server.chat_requests())
        resumed = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--resume", "CRASH",
                                  "--stages", "ingest,feedback"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                                 stdin=subprocess.DEVNULL)
        received = [r.body for r in server.chat_requests()]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = _rows(ws.db_path, "SELECT request_id, payload, outcome, attempts FROM llm_egress WHERE run_id = 'CRASH'")
    reconciled = _rows(ws.db_path, "SELECT count(*) FROM audit_log WHERE event_type = 'llm_egress_reconciled'")[0][0]
    sends = _rows(ws.db_path, "SELECT count(*) FROM audit_log WHERE event_type = 'llm_send'")[0][0]
    analysed = _rows(ws.db_path, "SELECT status, count(*) FROM feedback_analysis WHERE run_id = 'CRASH' GROUP BY 1")
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
    assert before_resume >= 3 and len(received) > before_resume
    assert sum(n for _, n in analysed) > 0
    verify = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
