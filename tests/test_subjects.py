"""Data-subject rights: shreddable pseudonyms, export, erasure (with tombstones) and retention.

Fast tests work on small hand-built stores; the slow ones take the built `openai` workspace (a
real run, tests/workspaces.py) through the whole story with the commands a data-protection
officer types: export holds every item, forget leaves nothing of the person in the database, the
audit folder, the snapshot or the models (not even the probes' victim, who wrote their own
identifiers in every variant), verify still passes with and without the signed heads, a
re-import is stripped and counted and sends nothing of them, a lifted tombstone lets them back,
and purge empties what retention covers.
"""
from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churn_workbench import config, db, pseudonyms
from churn_workbench.errors import UsageError
from churn_workbench.llm import cache_key
from churn_workbench.llm.prompts import json_compact
from churn_workbench.subjects import forget, purge, tombstones
from churn_workbench.subjects.holdings import DIGESTED_TABLES, row_hashes
from conftest import SMALL_TABLE_MODEL, workspace_env
from fake_llm_server import FakeLLMServer
from inprocess import cli
from pii_probes import VICTIM, VICTIM_NEEDLES, fold
from workspaces import llm_env

MODEL, VERSION = "m-1", "analysis-v1"


# --------------------------------------------------------------------------------------------
# pseudonyms
# --------------------------------------------------------------------------------------------

def test_refs_are_stable_keyed_per_subject_and_shredded_by_forget(tmp_path):
    refs = pseudonyms.SubjectRefs(tmp_path / ".subject_key")
    first = refs.ref("C1")
    assert first.startswith("subj_") and "C1" not in first
    assert pseudonyms.SubjectRefs(tmp_path / ".subject_key").ref("C1") == first  # another process, same ref
    assert refs.refs(["C2", "C1", "C2"])[1] == first
    store = pseudonyms.default_store(tmp_path / ".subject_key")
    assert store.stat().st_mode & 0o077 == 0
    secret = duckdb.sql(f"SELECT secret FROM read_parquet({db.literal(store)})").fetchall()
    before = store.read_bytes()
    assert all(s[0] in before for s in secret)

    assert refs.forget(["C1"]) == 1 and refs.known(["C1", "C2"]) == [False, True]
    after = store.read_bytes()
    lost = [s[0] for s in secret if s[0] not in after]
    assert len(lost) == 1, "exactly C1's secret left the key store file"
    assert refs.ref("C1") != first  # a new, unlinked pseudonym
    assert refs.refs(["C2"]) == pseudonyms.SubjectRefs(tmp_path / ".subject_key").refs(["C2"])


def test_refs_in_one_batch_match_single_refs(tmp_path):
    refs = pseudonyms.SubjectRefs(tmp_path / "k", key="fixed key")
    ids = [f"C{i:06d}" for i in range(20_000)]
    batch = refs.refs(ids)
    assert len(set(batch)) == len(ids)
    assert [refs.ref(i) for i in ids[:5] + ids[-5:]] == batch[:5] + batch[-5:]
    assert pseudonyms.SubjectRefs(tmp_path / "k", key="another key").refs(ids[:3]) != batch[:3]


def test_an_unwritable_key_store_gives_refs_that_match_nothing(tmp_path):
    (tmp_path / "not_a_dir").write_text("")
    refs = pseudonyms.SubjectRefs(tmp_path / "k", key="fixed", store=tmp_path / "not_a_dir" / "store.parquet")
    first = refs.ref("C1")
    assert first.startswith("subj_") and refs.ref("C1") != first and refs.known(["C1"]) == [False]


# --------------------------------------------------------------------------------------------
# a small hand-built store
# --------------------------------------------------------------------------------------------

def _settings(tmp_path, **extra) -> config.Settings:
    return config.Settings(data_dir=tmp_path / "data", audit_dir=tmp_path / "audit", **extra)


def _egress_body(texts: list[str]) -> str:
    items = [{"ref": f"r{i + 1}", "text": t} for i, t in enumerate(texts)]
    return json_compact({"model": MODEL, "messages": [{"role": "system", "content": "analyse"},
                                                      {"role": "user", "content": json_compact(items)}]})


def _store(settings) -> None:
    """Two runs; customer A has a unique text (sent together with B's) and a text shared with B."""
    old, new = datetime(2020, 1, 1), datetime.now() - timedelta(hours=1)
    a_text, shared, b_text = "Alice here, my router <PERSON_1> broke", "Too expensive.", "Bob likes it"
    with db.session(settings.db_path) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('A', 'Alice Lidell', 'a@x.org'), "
                    "('B', 'Bob Stone', 'b@x.org')) t(customer_id, name, email)")
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r-old', ?, 'succeeded'), "
                    "('r-new', ?, 'succeeded')", [old, new])
        for run in ("r-old", "r-new"):
            for cid, fid, text in (("A", "F1", a_text), ("A", "F2", shared), ("B", "F3", b_text), ("B", "F4", shared)):
                con.execute("INSERT INTO feedback_analysis (run_id, feedback_id, customer_id, anonymized_text, status, "
                            "cache_key) VALUES (?, ?, ?, ?, 'ok', ?)", [run, fid, cid, text, cache_key(text, VERSION, MODEL)])
            con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability) VALUES (?, 'A', 0.7), (?, 'B', 0.2)",
                        [run, run])
            con.execute("INSERT INTO llm_egress (request_id, run_id, stage, model, prompt_version, payload, n_items, sent_at) "
                        "VALUES (?, ?, 'feedback', ?, ?, ?, 3, ?)",
                        [f"q-{run}", run, MODEL, VERSION, _egress_body([b_text, a_text, shared]),
                         old if run == "r-old" else new])
        for cid, fid, text, when in (("A", "F1", "Alice here, my router Lidell broke", old),
                                     ("A", "F2", "Too expensive.", new), ("B", "F3", "Bob likes it", new)):
            con.execute("INSERT INTO feedback (feedback_id, customer_id, text, created_at, run_id) VALUES (?, ?, ?, ?, 'r-new')",
                        [fid, cid, text, when])
        con.execute("INSERT INTO consent VALUES ('A', 'marketing', true, ?, 'form', 'r-old'), "
                    "(' a ', 'marketing', false, ?, 'call', 'r-new'), ('B', 'marketing', true, ?, 'form', 'r-old')",
                    [old, new, old])
        con.execute("INSERT INTO analysis_cache VALUES (?, '{}', 'p', ?, ?, 'r-old')", [cache_key(a_text, VERSION, MODEL), MODEL, VERSION])


def _all_hashes(con) -> dict:
    return {t: row_hashes(con, t, "true", []) for t in DIGESTED_TABLES}


def _declared(con, event_type: str) -> dict:
    return json.loads(con.execute("SELECT details FROM audit_log WHERE event_type = ?", [event_type]).fetchone()[0])


def _replay(now: dict, details: dict) -> dict:
    """What verify will do: per table and run, sorted((current - added) | removed)."""
    out = {}
    for table in DIGESTED_TABLES:
        runs = set(now[table]) | set(details["removed_row_hashes"].get(table, {}))
        out[table] = {}
        for run in runs:
            current = set(now[table].get(run, [])) - set(details["added_row_hashes"].get(table, {}).get(run, []))
            rebuilt = sorted(current | set(details["removed_row_hashes"].get(table, {}).get(run, [])))
            if rebuilt:
                out[table][run] = rebuilt
    return out


def test_forget_removes_redacts_declares_hashes_and_tombstones(tmp_path):
    settings = _settings(tmp_path)
    _store(settings)
    with db.session(settings.db_path) as con:
        before = _all_hashes(con)
    refs = pseudonyms.SubjectRefs(settings.subject_key_file, None, settings.subject_keystore)
    ref = refs.ref("A")
    done = forget(settings, "A", republish=False)
    assert done["subject_ref"] == ref and done["secrets_destroyed"] == 1
    assert done["removed_rows"]["consent"] == 2  # " a " withdrew A's consent: it is A's record too
    with db.session(settings.db_path) as con:
        for table in ("customers", "feedback", "feedback_analysis", "predictions", "consent"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE trim(lower(customer_id)) = 'a'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM analysis_cache").fetchone()[0] == 0
        payloads = [json.loads(json.loads(p)["messages"][1]["content"])
                    for (p,) in con.execute("SELECT payload FROM llm_egress ORDER BY run_id").fetchall()]
        for items in payloads:
            assert items[0] == {"ref": "r1", "text": "Bob likes it"}          # another customer's item: untouched
            assert "text" not in items[1] and items[1]["ref"] == "r2"        # A's own text: redacted
            assert items[2]["text"] == "Too expensive."                        # also B's text: kept
        event = con.execute("SELECT subject_ref, stage, details FROM audit_log WHERE event_type = 'subject_erased'").fetchone()
        assert event[0] == ref and event[1] == "subject"
        details = json.loads(event[2])
        assert set(details["removed_row_hashes"]) >= {"predictions", "feedback_analysis", "consent", "llm_egress"}
        assert set(details["added_row_hashes"]["llm_egress"]) == {"r-old", "r-new"}
        assert _replay(_all_hashes(con), details) == before   # verify can rebuild every run's digest
        assert "Alice" not in event[2] and '"A"' not in event[2]
        # Letter case is kept: "a" is another customer, not tombstoned.
        assert tombstones.is_tombstoned(con, refs, "A") and not tombstones.is_tombstoned(con, refs, "a")
        kept, fb, cons, counts = tombstones.strip(
            con, refs, pd.DataFrame({"customer_id": ["A", "B", "C"]}),
            pd.DataFrame({"customer_id": ["A", "B"], "text": ["x", "y"]}),
            pd.DataFrame({"customer_id": ["A"], "purpose": ["marketing"]}))
        assert list(kept["customer_id"]) == ["B", "C"] and list(fb["customer_id"]) == ["B"] and cons.empty
        assert counts == {"customers": 1, "feedback": 1, "consent_records": 1, "looks_like_erased": 0}
    assert refs.known(["A"]) == [False]
    with pytest.raises(UsageError, match="customer A: no data held .*already erased"):
        forget(settings, "A", republish=False)
    with pytest.raises(UsageError, match="customer Z: .*unknown customer"):
        forget(settings, "Z", republish=False)
    raw = settings.db_path.read_bytes()
    assert b"Alice" not in raw and b"a@x.org" not in raw, "deleted values must leave the database file"


def test_purge_applies_retention_and_declares_hashes(tmp_path):
    settings = _settings(tmp_path)
    _store(settings)
    with db.session(settings.db_path) as con:
        before = _all_hashes(con)
    done = purge(settings, older_than=30, republish=False)
    assert done["purged"] == {"feedback": 1, "analysis": 4, "egress": 1}
    with db.session(settings.db_path) as con:
        assert con.execute("SELECT run_id FROM llm_egress WHERE payload IS NULL").fetchall() == [("r-old",)]
        assert con.execute("SELECT DISTINCT run_id FROM feedback_analysis").fetchall() == [("r-new",)]
        assert con.execute("SELECT feedback_id FROM feedback ORDER BY 1").fetchall() == [("F2",), ("F3",)]
        assert _replay(_all_hashes(con), _declared(con, "retention_purged")) == before
    assert b"Lidell broke" not in settings.db_path.read_bytes()


def test_purge_needs_a_period_and_ingest_drops_feedback_past_retention(tmp_path):
    from churn_workbench.subjects import retention
    with pytest.raises(UsageError, match="WORKBENCH_RETENTION_FEEDBACK_DAYS"):
        purge(_settings(tmp_path))
    settings = _settings(tmp_path, retention_feedback_days=10, retention_egress_days=5)
    assert retention.periods(settings) == {"feedback": 10, "egress": 5}
    frame = pd.DataFrame({"created_at": [datetime.now() - timedelta(days=11), datetime.now(), None]})
    assert retention.feedback_kept(frame, settings).tolist() == [False, True, True]


def test_subject_command_usage_errors_are_one_line_exit_2(workspace, capsys):
    from churn_workbench import cli
    assert cli.main(["subject", "purge"]) == 2
    assert cli.main(["subject", "forget"]) == 2          # --customer is required
    assert cli.main(["subject", "forget", "--customer", "C1"]) == 2   # no database yet
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("run_pipeline.py subject: error:") for line in lines)


# --------------------------------------------------------------------------------------------
# the whole story, end to end
# --------------------------------------------------------------------------------------------

def _pick_subject(con, besides: list[str]) -> dict:
    """A customer with everything: unique name and texts that carry their identifiers, feedback
    sent to the LLM, a prediction and an action (not one of `besides`)."""
    row = con.execute("""
        WITH uniq AS (SELECT text FROM feedback GROUP BY text HAVING count(*) = 1),
             nm AS (SELECT name FROM customers GROUP BY name HAVING count(*) = 1),
             s AS (SELECT c.customer_id, any_value(c.name) AS name, any_value(c.email) AS email,
                          any_value(c.phone) AS phone, bool_and(f.text IN (SELECT text FROM uniq)) AS unique_texts,
                          bool_or(contains(lower(f.text), lower(c.email)) OR contains(f.text, c.name)) AS identifying,
                          bool_or(a.status = 'ok') AS sent
                   FROM customers c JOIN feedback f USING (customer_id) JOIN feedback_analysis a USING (feedback_id)
                   WHERE c.name IN (SELECT name FROM nm) GROUP BY c.customer_id)
        SELECT customer_id, name, email, phone FROM s
        WHERE unique_texts AND identifying AND sent AND list_position(?, customer_id) IS NULL
          AND customer_id IN (SELECT customer_id FROM predictions)
          AND customer_id IN (SELECT customer_id FROM actions WHERE status <> 'control' AND provider = 'openai')
        ORDER BY customer_id LIMIT 1""", [besides]).fetchone()
    assert row, "the synthetic set should hold a customer with every kind of data"
    texts = [r[0] for r in con.execute("SELECT text FROM feedback WHERE customer_id = ?", [row[0]]).fetchall()]
    return {"id": row[0], "name": row[1], "email": row[2], "phone": row[3], "texts": texts}


def _needles(subject) -> list[tuple[str, re.Pattern]]:
    digits = re.sub(r"\D", "", subject["phone"])
    values = [("id", rf"\b{re.escape(subject['id'])}\b"), ("name", re.escape(subject["name"])),
              ("email", re.escape(subject["email"])), ("phone", re.escape(subject["phone"])),
              ("phone digits", re.escape(digits[-10:]))]
    values += [(f"feedback text {i}", re.escape(t)) for i, t in enumerate(subject["texts"])]
    return [(label, re.compile(p, re.IGNORECASE)) for label, p in values]


def _texts_of_store(db_path: Path) -> str:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(con.execute(f"SELECT * FROM {db.ident(t)}").df().astype(str).to_csv() for t in tables)
    finally:
        con.close()


def _texts_of_files(folder: Path) -> list[tuple[str, str]]:
    """Every file as text: Parquet through DuckDB, zip archives (skops models) member by member,
    everything else as bytes; plus the raw bytes of every file."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        out.append((str(path), raw.decode("latin-1")))
        if path.suffix == ".parquet":
            out.append((str(path), duckdb.sql(f"SELECT * FROM read_parquet({db.literal(path)})").df().astype(str).to_csv()))
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                out += [(f"{path}!{m}", archive.read(m).decode("latin-1")) for m in archive.namelist()]
    return out


def _found(subject, places: list[tuple[str, str]]) -> list[str]:
    return [f"{label} in {where}" for where, text in places for label, pattern in _needles(subject) if pattern.search(text)]


def _table_texts(db_path: Path, tables) -> str:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return "\n".join(json.dumps([str(v) for v in row], ensure_ascii=False)
                         for t in tables for row in con.execute(f"SELECT * FROM {db.ident(t)}").fetchall())
    finally:
        con.close()


def _snapshot_texts(data_dir: Path) -> str:
    return "\n".join(text for _, text in _texts_of_files(data_dir / "snapshot") if "!" not in _)


@pytest.fixture(scope="module")
def story(built_openai):
    """The built workspace through the whole rights story, once; each test checks one part of it.
    Two people are erased: a customer with every kind of data, and the probes' victim."""
    ws = built_openai.restore()
    env = dict(workspace_env(ws), **SMALL_TABLE_MODEL)
    probes = built_openai.probes()
    inputs = [a for name in ("customers", "feedback", "consent") for a in (f"--{name}", ws.root / "inputs" / f"{name}.csv")]
    victim_id = probes[VICTIM["probe"]]
    out: dict = {"ws": ws, "victim_id": victim_id}
    con = duckdb.connect(str(ws.db_path), read_only=True)
    subject = out["subject"] = _pick_subject(con, list(probes.values()))
    out["victim_feedback"] = con.execute("SELECT count(*) FROM feedback WHERE customer_id = ?", [victim_id]).fetchone()[0]
    con.close()
    out["before"] = _found(subject, [("db", _texts_of_store(ws.db_path))])
    out["unknown"] = cli("subject", "export", "--customer", "NO-SUCH-ID", env=env)
    exports = ws.root.parent / "exports"
    out["export"] = cli("subject", "export", "--customer", subject["id"], "--out", exports / "access.json", env=env)
    out["json"] = json.loads((exports / "access.json").read_text())
    out["markdown"] = (exports / "access.md").read_text()
    out["victim_export"] = cli("subject", "export", "--customer", victim_id, "--out", exports / "victim.json", env=env)
    out["victim_export_text"] = (exports / "victim.json").read_text(encoding="utf-8")
    out["forget"] = cli("subject", "forget", "--customer", subject["id"], "--yes", env=env)
    out["victim_forget"] = cli("subject", "forget", "--customer", victim_id, "--yes", env=env)
    out["after"] = _found(subject, [("db", _texts_of_store(ws.db_path))] + _texts_of_files(ws.data_dir / "snapshot")
                          + _texts_of_files(ws.data_dir / "models") + _texts_of_files(ws.audit_dir)
                          + [(str(ws.db_path), ws.db_path.read_bytes().decode("latin-1"))])
    out["files_after_forget"] = {p: p.read_bytes() for folder in (ws.data_dir, ws.audit_dir)
                                 for p in folder.rglob("*") if p.is_file()}
    out["readable_after_forget"] = _table_texts(ws.db_path, (
        "customers", "feedback", "feedback_analysis", "predictions", "actions", "consent", "llm_egress",
        "analysis_cache", "audit_log", "runs")) + _snapshot_texts(ws.data_dir)
    out["verify_after_forget"] = cli("verify", env=env)
    out["verify_after_forget_heads"] = cli("verify", "--heads", ws.heads, env=env)
    # Re-import of the very same files: both erased ids are stripped and counted, nothing of them is sent.
    with FakeLLMServer(seed=3) as server:
        out["reimport"] = cli("--quiet", *inputs, "--llm", "openai", "--stages", "ingest,feedback",
                              env=dict(env, **llm_env(server)))
        out["sent_after_reimport"] = [str(item.get("text", item)) for item in server.sent_items()]
    with db.session(ws.db_path) as con:
        out["reimport_summary"] = json.loads(con.execute(
            "SELECT summary FROM ingest_log ORDER BY ingested_at DESC LIMIT 1").fetchone()[0])
        out["present_after_reimport"] = con.execute(
            "SELECT count(*) FROM customers WHERE customer_id = ?", [subject["id"]]).fetchone()[0]
        out["victim_rows_after_reimport"] = {table: con.execute(
            f"SELECT count(*) FROM {table} WHERE trim(lower(customer_id)) = ?", [victim_id.lower()]).fetchone()[0]
            for table in ("customers", "feedback", "consent", "predictions", "actions")}
        out["stripped_event"] = con.execute(
            "SELECT details FROM audit_log WHERE event_type = 'tombstoned_stripped'").fetchone()
    out["lift"] = cli("subject", "lift", "--customer", subject["id"], env=env)
    out["reimport_lifted"] = cli("--quiet", *inputs, "--stages", "ingest", env=env)
    with db.session(ws.db_path) as con:
        out["present_after_lift"] = con.execute(
            "SELECT count(*) FROM customers WHERE customer_id = ?", [subject["id"]]).fetchone()[0]
    out["purge"] = cli("subject", "purge", "--older-than", "0", "--yes", env=env)
    with db.session(ws.db_path) as con:
        out["payloads_left"] = con.execute("SELECT count(*) FROM llm_egress WHERE payload IS NOT NULL").fetchone()[0]
        out["feedback_left"] = con.execute("SELECT count(*) FROM feedback").fetchone()[0]
    out["verify_after_purge"] = cli("verify", env=env)
    return out


def test_export_holds_every_item(story):
    assert story["export"].returncode == 0, story["export"].stderr
    data, md, subject = story["json"], story["markdown"], story["subject"]
    assert data["customer"][0]["name"] == subject["name"] and data["customer"][0]["email"] == subject["email"]
    assert sorted(f["text"] for f in data["feedback"]) == sorted(subject["texts"])
    assert all(f["anonymized_text"] and subject["email"] not in f["anonymized_text"] for f in data["feedback"])
    assert data["analyses"] and all(a["summary"] for a in data["analyses"])
    assert {c["purpose"] for c in data["consent_history"]} and len(data["consent_now"]) == 3
    assert data["predictions"] and isinstance(data["predictions"][0]["drivers"], list) and data["predictions"][0]["drivers"]
    assert data["actions"] and data["actions"][0]["action_type"]
    assert data["llm_egress"] and all(e["your_items"] for e in data["llm_egress"])
    assert {e["stage"] for e in data["llm_egress"]} == {"feedback", "act"}
    anonymized = {a["anonymized_text"] for a in data["analyses"]}
    assert all(item["text"] in anonymized for e in data["llm_egress"] if e["stage"] == "feedback" for item in e["your_items"])
    action = data["actions"][0]
    assert any(item["segment"] == action["segment"] and set(item) == {"ref", "segment", "risk", "drivers", "topics", "sentiment"}
               for e in data["llm_egress"] if e["stage"] == "act" for item in e["your_items"])
    assert len({i["ref"] for e in data["llm_egress"] for i in e["your_items"]}) <= sum(e["n_items"] for e in data["llm_egress"])
    request_ids = {e["request_id"] for e in data["llm_egress"]}
    assert {json.loads(e["details"])["request_id"] for e in data["audit_events"] if e["event_type"] == "llm_request"} == request_ids
    for text in (subject["name"], subject["email"], *subject["texts"], "Consent history", "Churn predictions",
                 "Retention actions", "sent to a language model", "Audit events"):
        assert text in md


def test_unknown_customer_is_a_one_line_usage_error(story):
    result = story["unknown"]
    assert result.returncode == 2 and "NO-SUCH-ID" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_forget_leaves_nothing_of_the_person_and_verify_passes(story):
    assert story["before"], "the scan must find the person before erasure (else it proves nothing)"
    assert story["forget"].returncode == 0, story["forget"].stdout + story["forget"].stderr
    assert story["after"] == []
    assert story["verify_after_forget"].returncode == 0, story["verify_after_forget"].stdout


def test_reimport_strips_the_erased_customers_and_counts_them(story):
    assert story["reimport"].returncode == 0, story["reimport"].stdout + story["reimport"].stderr
    stripped = story["reimport_summary"]["tombstoned_stripped"]
    assert stripped["customers"] == 2 and stripped["consent_records"] >= 2
    assert stripped["feedback"] == len(story["subject"]["texts"]) + story["victim_feedback"]
    assert story["present_after_reimport"] == 0
    assert json.loads(story["stripped_event"][0]) == stripped
    assert story["lift"].returncode == 0 and story["reimport_lifted"].returncode == 0
    assert story["present_after_lift"] == 1


def test_reimport_does_not_bring_the_victim_back_nor_send_them(story):
    assert story["victim_rows_after_reimport"] == dict.fromkeys(story["victim_rows_after_reimport"], 0)
    assert story["sent_after_reimport"], "the re-import sent nothing at all: the check below would prove nothing"
    assert not any("vandersteen" in fold(t) for t in story["sent_after_reimport"])


def test_purge_older_than_zero_days_empties_retained_kinds_and_verify_passes(story):
    assert story["purge"].returncode == 0, story["purge"].stdout + story["purge"].stderr
    assert story["payloads_left"] == 0 and story["feedback_left"] == 0
    assert story["verify_after_purge"].returncode == 0, story["verify_after_purge"].stdout


# --- the probes' victim: every variant of their own identifiers, and nothing of them left
def test_victim_export_is_complete(story):
    assert story["victim_export"].returncode == 0, story["victim_export"].stderr
    text = story["victim_export_text"]
    for value in (story["victim_id"], VICTIM["name"], VICTIM["email"], "mvandersteen42 writing"):
        assert value in text, f"export lacks {value}"


def test_victim_forget_succeeds_and_verify_passes_with_and_without_heads(story):
    assert story["victim_forget"].returncode == 0, story["victim_forget"].stderr
    for result in (story["verify_after_forget"], story["verify_after_forget_heads"]):
        assert result.returncode == 0, result.stdout[-800:]


@pytest.mark.parametrize("needle", VICTIM_NEEDLES)
def test_forget_leaves_no_bytes_of_the_victim(story, needle):
    hits = []
    for path, data in story["files_after_forget"].items():
        for enc in ("utf-8", "utf-16-le"):
            if needle.encode(enc) in data or needle.lower().encode(enc) in data.lower():
                hits.append(f"{path.relative_to(story['ws'].root)} ({enc})")
    assert not hits, f"{needle!r} still in {hits}"


@pytest.mark.parametrize("needle", VICTIM_NEEDLES)
def test_forget_leaves_nothing_readable_of_the_victim(story, needle):
    assert needle.lower() not in story["readable_after_forget"].lower()


def test_forget_leaves_the_victims_id_in_no_table(story):
    assert not re.search(rf"\b{story['victim_id']}\b", story["readable_after_forget"]), \
        "customer id still in a table or the snapshot"
