"""Right of access (Art. 15): everything the workbench holds about one customer, as JSON (for
machines, complete) and Markdown (for the person, readable).

Nothing about other customers is disclosed: of a request that carried several customers'
items, only this customer's items are included.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .. import consent, consent_trail, db
from ..audit import AuditLog
from ..boundary import paths
from ..boundary.customer_ids import subject_id
from ..config import Settings
from ..errors import UsageError
from ..pseudonyms import SubjectRefs
from ..vocab import PURPOSES
from ..workspace import Workspace
from . import exports, registry
from .identify import resolve
from .holdings import action_context_hits, egress_hits, operation_id, where_customer

SECTIONS = {
    "customer": "Customer record",
    "feedback": "Feedback you gave, and the anonymized form that was analysed",
    "analyses": "Analyses of your feedback",
    "consent_history": "Consent history",
    "consent_now": "Consent decisions in force",
    "predictions": "Churn predictions, with the drivers behind each",
    "actions": "Retention actions",
    "llm_egress": "What was sent to a language model on your behalf",
    "audit_events": "Audit events about you (under your pseudonymous reference)",
}


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def collect(con, refs: SubjectRefs, customer_id: str) -> dict:
    """The export as a dict of sections (see SECTIONS), each a list of records."""
    cid = str(customer_id)
    q = lambda sql: _records(con.execute(sql, [cid]).df())  # noqa: E731
    out: dict = {"customer_id": cid, "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out["customer"] = q("SELECT * FROM customers WHERE customer_id = ?") if db.table_exists(con, "customers") else []
    out["feedback"] = q("""SELECT f.feedback_id, f.created_at, f.channel, f.text,
                                  (SELECT a.anonymized_text FROM feedback_analysis a WHERE a.feedback_id = f.feedback_id
                                   AND a.customer_id = f.customer_id ORDER BY a.run_id DESC LIMIT 1) AS anonymized_text
                           FROM feedback f WHERE f.customer_id = ? ORDER BY f.created_at, f.feedback_id""")
    out["analyses"] = q("""SELECT run_id, feedback_id, anonymized_text, sentiment, sentiment_label, topics, summary,
                                  status, provider, model, prompt_version, pii_counts
                           FROM feedback_analysis WHERE customer_id = ? ORDER BY run_id, feedback_id""")
    where, params = where_customer(con, "consent", cid)
    out["consent_history"] = _records(con.execute(
        f"""SELECT customer_id, purpose, granted, recorded_at, source, run_id FROM consent
            WHERE {where} ORDER BY purpose, recorded_at NULLS FIRST""", params).df())
    out["consent_now"] = [{"purpose": p, "allowed": bool(consent.allowed(con, [cid], p).iloc[0])} for p in PURPOSES]
    out["predictions"] = q("""SELECT run_id, churn_probability, segment, drivers, model_version, scored_at
                              FROM predictions WHERE customer_id = ? ORDER BY scored_at""")
    for row in out["predictions"]:
        try:
            row["drivers"] = json.loads(row["drivers"]) if row["drivers"] else []
        except ValueError:
            pass
    out["actions"] = q("""SELECT run_id, segment, action_type, channel, discount_pct, message, status, provider,
                                 model, prompt_version, model_version, created_at
                          FROM actions WHERE customer_id = ? ORDER BY created_at""")
    out["llm_egress"] = []
    for hit in [*egress_hits(con, cid), *action_context_hits(con, cid)]:
        meta = con.execute("SELECT provider, model, prompt_version, sent_at, outcome, n_items FROM llm_egress "
                           "WHERE request_id = ? AND run_id = ? AND stage = ?", [hit.request_id, hit.run_id, hit.stage]).df()
        row = _records(meta)[0] if len(meta) else {}
        out["llm_egress"].append({"request_id": hit.request_id, "run_id": hit.run_id, "stage": hit.stage, **row,
                                  "your_items": hit.own_items()})
    # Audit events about the customer: those under their pseudonymous ref, the records of the
    # LLM requests that carried their items, and each run's one event for the consent exclusions
    # unchanged since the run before (consent_trail.py) that counts them -- shown without the
    # other customers' refs it holds.
    out["subject_ref"] = refs.ref(cid) if refs.known([cid])[0] else None
    request_ids = sorted({e["request_id"] for e in out["llm_egress"]})
    carried = consent_trail.carried_for(con, out["subject_ref"]) if out["subject_ref"] else []
    events = con.execute(
        """SELECT seq, ts, run_id, stage, event_type, status, subject_ref, details FROM audit_log
           WHERE subject_ref = ? OR (event_type IN ('llm_request', 'llm_retry')
                                     AND json_extract_string(details, '$.request_id') IN (SELECT unnest(?)))
              OR seq IN (SELECT unnest(?))
           ORDER BY seq""", [out["subject_ref"], request_ids, carried]).df()
    is_carried = events["event_type"].eq(consent_trail.UNCHANGED)
    events.loc[is_carried, "details"] = [
        json.dumps({k: v for k, v in json.loads(d).items() if k in ("purpose", "customers", "since_run")}, sort_keys=True)
        for d in events.loc[is_carried, "details"]]
    out["audit_events"] = _records(events)
    return out


def export_subject(settings: Settings, customer_id: str, out: str | Path | None = None,
                   force: bool = False) -> tuple[Path, Path]:
    """Write the JSON export and a Markdown report beside it (same stem, `.md`); returns both paths.

    `out`: a file, or a folder to write into; None: the workspace's private exports folder
    (exports.py). Both files are created with mode 0600, without following a link at their
    names, and never over an existing file unless `force`.
    """
    cid = subject_id(customer_id)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, nothing to export")
    given = out is not None and str(out) != ""
    if given:
        paths.user_path(out, "--out")  # a control character, a name the OS refuses
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with paths.os_errors("--out" if given else ""):
        if given:
            refuse_destination(Path(str(out)).expanduser(), Workspace(settings))
        # Two exports in one second (two customers) must not meet at one name.
        json_path = paths.output_path(out, exports.folder(settings), f"subject-export-{stamp}-{secrets.token_hex(3)}.json")
        # The file named is the file written: `--out x.md` never becomes `x.md.json`.
        if json_path.suffix.lower() != ".json":
            raise UsageError(f"--out {out}: the export is a JSON file; name it with .json (its readable report "
                             "is written beside it, .md), or name a folder to write both in")
        md_path = json_path.with_suffix(".md")
        if given:
            refuse_destination(json_path, Workspace(settings))
            for target in (json_path, md_path):  # a device or a pipe swallows or blocks, --force or not
                paths.regular_or_absent(target, "--out")
        paths.refuse_existing([json_path, md_path], force)  # before anything is read or recorded
    refs = SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
    # The README promises the subject commands refuse to run while a pipeline holds the database.
    with Workspace(settings).lock(wait=False, holder="a subject export"):
        con = db.connect(settings.db_path, read_only=True, wait_s=30)
        try:
            resolve(con, refs, cid)
            data = collect(con, refs, cid)
        finally:
            con.close()
        # The access request is itself on record (accountability): under the customer's ref, counts only.
        log = AuditLog(operation_id("subject-export"), "subject")
        log.event("subject_exported", "ok", refs.ref(cid),
                  items={k: len(v) for k, v in data.items() if isinstance(v, list)})
        texts = {json_path: json.dumps(data, indent=2, ensure_ascii=False, default=str), md_path: markdown(data)}
        ws = Workspace(settings)
        with db.session(settings.db_path) as con, db.transaction(con):
            log.flush(con)
            # Files in the workspace's exports folder are recorded before they are written:
            # erasure deletes them by this record (registry.py), never by searching content.
            if json_path.parent.resolve().is_relative_to(ws.exports_dir.resolve()):
                subject = registry.subject_hash(con, refs, cid)
                for path, text in texts.items():
                    registry.record(con, ws, path, "export", text.encode(), subject)
    paths.private_folder(json_path.parent)  # folders made for an export: its owner's only
    for path, text in texts.items():
        paths.write_private(path, text, force)
    return json_path, md_path


def refuse_destination(path: Path, ws: Workspace) -> None:
    """An `--out` may not lie inside the workspace (its audit folder, models and snapshot are
    meant to hold no personal data, a manifest must never be replaced, and erasure sweeps only
    the exports folder) nor inside a git work tree (a file there can be committed); the
    workspace's own exports folder is the exception (it is private, git-ignored and erased)."""
    target = path.parent.resolve() / path.name
    if target.is_relative_to(ws.exports_dir.resolve()):
        return
    places = [(ws.data_dir, "the workspace"), (ws.audit_dir, "the audit folder"), (ws.models_dir, "the models folder"),
              (ws.snapshot_dir, "the dashboard snapshot")]
    if ws.root in (ws.data_dir, ws.data_dir.parent):  # the folder holding data/ and audit/ side by side
        places.append((ws.root, "the workspace"))
    for folder, what in places:
        if target.is_relative_to(folder.resolve()):
            raise UsageError(f"--out {path}: inside {what} ({folder}), where erasure does not look for a person's data "
                             f"(and manifests and models must stay as written); write it outside the workspace, or "
                             f"leave out --out for the private exports folder {ws.exports_dir}")
    tree = paths.git_work_tree(target.parent)
    if tree is not None:
        raise UsageError(f"--out {path}: inside the git work tree {tree}, where a personal-data file can be committed; "
                         "write it outside any repository, or leave out --out for the private exports folder")


def _cell(value) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict]) -> str:
    if not rows:
        return "_Nothing held._\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(data: dict) -> str:
    """The readable report: one section per kind of data, every item listed."""
    parts = [f"# Data held about customer {_cell(data['customer_id'])}\n",
             f"Generated {data['generated_at']} by the churn workbench (right of access, GDPR Art. 15). "
             "The JSON file beside this report holds the same items in machine-readable form.\n"]
    for key, title in SECTIONS.items():
        rows = data.get(key) or []
        parts.append(f"## {title} ({len(rows)})\n")
        if key == "llm_egress":
            rows = [dict({k: v for k, v in r.items() if k != "your_items"},
                         your_items=r.get("your_items")) for r in rows]
        if key == "audit_events" and data.get("subject_ref"):
            parts.append(f"Your pseudonymous reference: `{data['subject_ref']}`\n")
        parts.append(_table(rows))
    return "\n".join(parts)
