"""The LLM backends in whole runs (stages in this process, see inprocess.py): what a model writes
is untrusted input, and an LLM that is down fails the run in one line or shows in the summary.

A lying model: a fake server whose schema-valid replies carry invented PII, URLs, injections,
another item's text and an unknown offer id. None of it is stored, shown or sent on; every
violation falls back (to the offline analyzer, or to the catalogue action) and is audited.
"""
from __future__ import annotations

import json
import re
import socket

import pytest

import hostile_inputs as hi
from conftest import SMALL_TABLE_MODEL, Workspace, workspace_env
from fake_llm_server import FakeLLMServer
from inprocess import cli
from pii_probes import HOSTILE_SUMMARIES, HOSTILE_TOKENS, fold


class LyingServer(FakeLLMServer):
    """Schema-valid replies whose free text is hostile; one unknown offer id."""

    def answer(self, request, content_faults):
        text = json.loads(super().answer(request, content_faults))
        items = json.loads(request["messages"][-1]["content"])
        for i, r in enumerate(text["results"]):
            if "summary" in r:
                if i % 3 == 2 and len(items) > 1:  # another item's text from the same request
                    r["summary"] = str(items[(i + 1) % len(items)].get("text", ""))[:150]
                else:
                    r["summary"] = HOSTILE_SUMMARIES[i % len(HOSTILE_SUMMARIES)]
            else:
                r["message"] = HOSTILE_SUMMARIES[i % len(HOSTILE_SUMMARIES)]
                if i % 2 == 0:
                    r["offer_id"] = "free_iphone_9000"
        return json.dumps(text)


def _liar_inputs(d):
    """60 customers who consented to everything, each with a feedback text that carries a marker."""
    rows = hi.base_rows(60)
    header = ["customer_id", "tenure_months", "monthly_charges", "contract", "churned"]
    customers = hi.write_csv(d / "customers.csv", header, [[r[h] for h in header] for r in rows])
    ids = [r["customer_id"] for r in rows]
    consent = hi.write_csv(d / "consent.csv", hi.CONSENT_HEADER, hi.full_consent(ids))
    feedback = hi.write_csv(d / "feedback.csv", ["customer_id", "text"],
                            [[cid, f"The network keeps dropping, marker{cid[1:]}q, I might cancel and switch."]
                             for cid in ids])
    return dict(args=["--customers", customers, "--feedback", feedback, "--consent", consent])


@pytest.fixture(scope="module")
def liar(tmp_path_factory):
    root = tmp_path_factory.mktemp("liar")
    (root / "inputs").mkdir()
    inputs = _liar_inputs(root / "inputs")
    ws = Workspace.at(root / "ws")
    with LyingServer() as server:
        result = hi.run(ws, *inputs["args"], "--llm", "openai", "--action-segments", "High,Medium,Low", server=server)
        bodies = [r.body for r in server.chat_requests()]
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return ws, result, bodies


def _text(ws, table) -> str:
    return "\n".join(json.dumps([str(v) for v in row], ensure_ascii=False) for row in hi.query(ws, f"SELECT * FROM {table}"))


def _snapshot_text(ws) -> str:
    import duckdb
    con = duckdb.connect()
    try:
        return "\n".join(json.dumps([str(v) for v in row], ensure_ascii=False)
                         for p in sorted((ws.data_dir / "snapshot").rglob("*.parquet"))
                         for row in con.execute("SELECT * FROM read_parquet(?)", [str(p)]).fetchall())
    finally:
        con.close()


def test_the_liar_was_asked_for_analyses_and_actions(liar):
    _, _, bodies = liar
    assert bodies, "the lying server got no request"
    assert any("retention" in b for b in bodies), "no action request reached the lying server"


@pytest.mark.parametrize("table", ["actions", "feedback_analysis"])
def test_lying_text_is_not_stored(liar, table):
    ws, _, _ = liar
    blob = fold(_text(ws, table))
    found = [t for t in HOSTILE_TOKENS if fold(t) in blob]
    assert not found, f"{table} stores model text {found}"


def test_another_items_text_is_not_stored_as_a_summary(liar):
    ws, _, _ = liar
    bad = [(cid, summary) for cid, summary in hi.query(ws, "SELECT customer_id, summary FROM feedback_analysis")
           for m in re.findall(r"marker(\d{3})q", summary or "") if f"C{m}" != cid]
    assert not bad, f"another item's text stored as summary: {bad[:3]}"


def test_lying_text_is_not_in_the_snapshot(liar):
    ws, _, _ = liar
    blob = fold(_snapshot_text(ws))
    found = [t for t in HOSTILE_TOKENS if fold(t) in blob]
    assert not found, f"snapshot shows model text {found}"


def test_lies_fall_back_and_are_audited_and_counted(liar):
    ws, result, _ = liar
    events = dict(hi.query(ws, "SELECT event_type, count(*) FROM audit_log GROUP BY 1"))
    assert events.get("llm_output_violation", 0) > 0, f"no llm_output_violation event: {sorted(events)}"
    assert events.get("action_policy_violation", 0) > 0, f"no action_policy_violation event: {sorted(events)}"
    assert re.search(r"polic\w*[ _]fallback|output[ _]violation", result.stdout, re.I), result.stdout[-1500:]


def test_an_unknown_offer_is_not_stored(liar):
    ws, _, _ = liar
    assert "free_iphone_9000" not in _text(ws, "actions")


# --------------------------------------------------------------------------- an LLM that is down
def _summary_line(stdout: str, label: str) -> str:
    return next((line.strip() for line in stdout.splitlines() if line.strip().startswith(label)), "")


def _dead_llm_env() -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: connections are refused at once
    return dict(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="sk-test", WORKBENCH_OPENAI_MODEL="fake-model",
                WORKBENCH_LLM_MAX_ATTEMPTS="1", WORKBENCH_LLM_BACKOFF_S="0.01", WORKBENCH_LLM_BACKOFF_MAX_S="0.05",
                WORKBENCH_LLM_ITEM_TRIES="1", **SMALL_TABLE_MODEL)


def test_an_unreachable_llm_fails_the_run_with_one_line_reason(tmp_path):
    ws = Workspace.at(tmp_path)
    result = cli("--quiet", "--synthetic", "80", "--llm", "openai", "--stages", "ingest,feedback", "--db", ws.db_path,
                 env=dict(workspace_env(ws), **_dead_llm_env()))
    assert result.returncode == 1, result.stdout + result.stderr
    error = _summary_line(result.stdout, "error:")
    assert "LLMUnavailable" in error and "fell back" in error and "llm_fallback_threshold=0.5" in error, result.stdout
    assert "\n" not in error
    assert hi.query(ws, "SELECT status FROM runs")[0][0] == "failed"
    assert hi.query(ws, "SELECT status FROM stage_runs WHERE stage = 'feedback'")[0][0] == "failed"
    run_id = hi.query(ws, "SELECT run_id FROM runs")[0][0]
    assert f"--resume {run_id} --db {ws.db_path}" in _summary_line(result.stdout, "resume:")


def test_the_summary_shows_llm_health_when_fallbacks_are_tolerated(tmp_path):
    ws = Workspace.at(tmp_path)
    result = cli("--quiet", "--synthetic", "60", "--llm", "openai", "--stages", "ingest,feedback", "--db", ws.db_path,
                 env=dict(workspace_env(ws), **_dead_llm_env(), WORKBENCH_LLM_FALLBACK_THRESHOLD="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    health = _summary_line(result.stdout, "LLM:")
    assert re.search(r"feedback via openai: [1-9]\d* requests, \d+ retries; 0 of (\d+) feedback items from the model, "
                     r"\1 fell back to the offline analyzer \(connection", health), result.stdout
