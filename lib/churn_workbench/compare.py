"""Two runs side by side: what went in, how customers were segmented, the model, the actions and
the LLM usage, and what changed between them.

    comparison = compare.runs(db_path, "run-a", "run-b")   # or compare.runs(db_path): the two newest
    print(comparison)                                     # the report `churn-workbench compare` prints
    comparison.segments                                   # DataFrames: measure, run A, run B, change

Everything is read from the store in one short read-only connection; nothing is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import db
from .errors import UsageError
from .vocab import SEGMENTS

COLUMNS = ["measure", "a", "b", "change"]
# Model metrics worth a line, in the order shown, with what each means (higher is better for all
# but the last three).
MODEL_METRICS = {
    "roc_auc": "ROC-AUC (ranking quality, 0.5 = chance)",
    "pr_auc": "PR-AUC (precision on churners)",
    "lift_top_decile": "lift in the riskiest 10%",
    "brier": "Brier score (lower is better)",
    "ece": "calibration error ECE (lower is better)",
    "log_loss": "log loss (lower is better)",
}
# Run parameters that change what a run does (paths are compared through their content hashes).
PARAMETERS = ("synthetic_n", "seed", "action_segments", "control_share", "max_train_rows", "allow_columns", "llm_provider")


@dataclass
class Comparison:
    """Run `a` (the older) against run `b`. Each table has the columns measure, a, b, change."""
    a: str
    b: str
    runs: pd.DataFrame
    inputs: pd.DataFrame
    segments: pd.DataFrame
    moved: pd.DataFrame          # customers scored in both runs: segment in a (rows) x segment in b (columns)
    model: pd.DataFrame
    actions: pd.DataFrame
    llm: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        tables = ("runs", "inputs", "segments", "model", "actions", "llm")
        return {"a": self.a, "b": self.b, "notes": self.notes,
                **{t: json.loads(getattr(self, t).to_json(orient="records")) for t in tables},
                "moved": json.loads(self.moved.to_json(orient="index"))}

    def __str__(self) -> str:
        lines = [f"Comparing run A {self.a} with run B {self.b}"]
        for title, frame in (("Runs", self.runs), ("Inputs", self.inputs), ("Segments (customers scored)", self.segments),
                             ("Model", self.model), ("Retention actions", self.actions), ("LLM usage", self.llm)):
            lines += ["", title]
            lines += _table_lines(frame) if len(frame) else ["  (nothing in either run)"]
        if len(self.moved):
            lines += ["", "Customers scored in both runs: segment in A (rows) -> segment in B (columns)"]
            lines += ["  " + line for line in self.moved.to_string().splitlines()]
        if self.notes:
            lines += [""] + [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _table_lines(frame: pd.DataFrame) -> list[str]:
    shown = frame.rename(columns={"a": "A", "b": "B"}).fillna("–").astype(str)
    widths = {c: max(len(c), *(len(v) for v in shown[c])) for c in shown.columns}
    header = "  " + "  ".join(c.ljust(widths[c]) if c == "measure" else c.rjust(widths[c]) for c in shown.columns)
    body = ["  " + "  ".join(v.ljust(widths[c]) if c == "measure" else v.rjust(widths[c]) for c, v in row.items())
            for _, row in shown.iterrows()]
    return [header, *body]


def _fmt(value, digits: int | None = None) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits if digits is not None else 3}f}"
    return str(value)


def _row(measure: str, a, b, digits: int | None = None, change: str | None = None) -> dict:
    """One line: both values and, for numbers, B minus A."""
    if change is None and isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool) and not (pd.isna(a) or pd.isna(b)):
        delta = b - a
        change = (f"{delta:+,}" if isinstance(delta, int) else f"{delta:+,.{digits if digits is not None else 3}f}") \
            if delta else "same"
    elif change is None:
        change = "same" if a == b else "changed"
    return {"measure": measure, "a": _fmt(a, digits), "b": _fmt(b, digits), "change": change}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def _json(text) -> dict:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def newest_two(con) -> tuple[str, str]:
    rows = con.execute("SELECT run_id FROM runs WHERE status = 'succeeded' ORDER BY started_at DESC LIMIT 2").fetchall()
    if len(rows) < 2:
        raise UsageError("compare: the store has fewer than two succeeded runs; name the runs: compare RUN_A RUN_B")
    return rows[1][0], rows[0][0]


def runs(db_path, a: str | None = None, b: str | None = None) -> Comparison:
    """Compare run `a` with run `b` (default: the two newest succeeded runs, older first)."""
    if not Path(db_path).exists():
        raise UsageError(f"{db_path}: no database yet (run the pipeline first)")
    con = db.connect(db_path, read_only=True)
    try:
        if not a or not b:
            if a or b:
                raise UsageError("compare: name both runs (RUN_A RUN_B), or neither for the two newest")
            a, b = newest_two(con)
        known = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE run_id IN (?, ?)", [a, b]).fetchall()}
        for run in (a, b):
            if run not in known:
                from .runs import case_twin_hint
                raise UsageError(f"compare: no run {run} in {db_path}{case_twin_hint(con, run)}")
        inputs, notes = _inputs(con, a, b)
        segments, moved = _segments(con, a, b)
        return Comparison(a, b, runs=_runs(con, a, b), inputs=inputs, segments=segments, moved=moved,
                          model=_model(con, a, b), actions=_actions(con, a, b), llm=_llm(con, a, b), notes=notes)
    finally:
        con.close()


def _runs(con, a, b) -> pd.DataFrame:
    rows = {r[0]: r for r in con.execute(
        "SELECT run_id, status, started_at, date_diff('millisecond', started_at, finished_at) / 1000.0, params, "
        "llm_provider FROM runs WHERE run_id IN (?, ?)", [a, b]).fetchall()}
    ra, rb = rows[a], rows[b]
    pa, pb = _json(ra[4]), _json(rb[4])
    out = [_row("status", ra[1], rb[1]),
           _row("started (UTC)", f"{ra[2]:%Y-%m-%d %H:%M}" if ra[2] else None, f"{rb[2]:%Y-%m-%d %H:%M}" if rb[2] else None,
                change=""),
           _row("duration (s)", ra[3], rb[3], digits=1)]
    for name in PARAMETERS:
        va, vb = pa.get(name, ra[5] if name == "llm_provider" else None), pb.get(name, rb[5] if name == "llm_provider" else None)
        if va is not None or vb is not None:
            out.append(_row(name.replace("_", " "), va, vb, change="same" if va == vb else "changed"))
    return _frame(out)


def _ingest(con, run) -> tuple[dict, dict]:
    """(the run's ingest summary, its input fingerprints), or the newest earlier ingest's."""
    row = con.execute("SELECT i.summary, (SELECT details FROM audit_log WHERE run_id = i.run_id AND event_type IN "
                      "('data_ingested', 'data_unchanged') ORDER BY seq DESC LIMIT 1) FROM ingest_log i "
                      "WHERE i.run_id = ? ORDER BY i.ingested_at DESC LIMIT 1", [run]).fetchone()
    return (_json(row[0]), _json(row[1]).get("sources") or {}) if row else ({}, {})


def _inputs(con, a, b) -> tuple[pd.DataFrame, list[str]]:
    (sa, fa), (sb, fb) = _ingest(con, a), _ingest(con, b)
    notes = [f"run {r} read no inputs of its own (no ingest stage)" for r, s in ((a, sa), (b, sb)) if not s]
    out = []
    for key, label in (("customers", "customers"), ("labelled", "customers with a churn label"),
                       ("feedback", "feedback items"), ("consent_records", "consent records in the file"),
                       ("consent_records_added", "consent records added to the register")):
        if key in sa or key in sb:
            out.append(_row(label, sa.get(key), sb.get(key)))
    if sa.get("features") is not None or sb.get("features") is not None:
        added = sorted(set(sb.get("features") or []) - set(sa.get("features") or []))
        dropped = sorted(set(sa.get("features") or []) - set(sb.get("features") or []))
        out.append(_row("feature columns", len(sa.get("features") or []), len(sb.get("features") or []),
                        change="; ".join(p for p in (f"added {', '.join(added)}" if added else "",
                                                     f"dropped {', '.join(dropped)}" if dropped else "") if p) or "same"))
    for name in sorted(set(fa) | set(fb)):
        ha, hb = (fa.get(name) or {}).get("sha256"), (fb.get(name) or {}).get("sha256")
        out.append({"measure": f"{name} input (sha256)", "a": ha[:12] + "…" if ha else None,
                    "b": hb[:12] + "…" if hb else None,
                    "change": "same content" if ha == hb else ("added" if not ha else "removed" if not hb else "different content")})
    return _frame(out), notes


def _segments(con, a, b) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = con.execute("SELECT run_id, segment, count(*), avg(churn_probability) FROM predictions "
                         "WHERE run_id IN (?, ?) GROUP BY 1, 2", [a, b]).fetchall()
    by = {(r, s): (n, p) for r, s, n, p in counts}
    names = [s for s in SEGMENTS if (a, s) in by or (b, s) in by]
    names += sorted({s for _, s in by} - set(names))
    out = [_row("customers scored", sum(n for (r, _), (n, _) in by.items() if r == a),
                sum(n for (r, _), (n, _) in by.items() if r == b))]
    for s in names:
        out.append(_row(f"{s} risk", by.get((a, s), (0, None))[0], by.get((b, s), (0, None))[0]))
    avg = dict(con.execute("SELECT run_id, avg(churn_probability) FROM predictions WHERE run_id IN (?, ?) GROUP BY 1",
                           [a, b]).fetchall())
    if avg:
        pa, pb = avg.get(a), avg.get(b)
        out.append({"measure": "average churn probability", "a": f"{pa:.1%}" if pa is not None else None,
                    "b": f"{pb:.1%}" if pb is not None else None,
                    "change": f"{100 * (pb - pa):+.1f} points" if pa is not None and pb is not None else ""})
    moved = con.execute("""SELECT pa.segment AS a, pb.segment AS b, count(*) AS n FROM predictions pa
                           JOIN predictions pb ON pa.customer_id = pb.customer_id AND pb.run_id = ?
                           WHERE pa.run_id = ? GROUP BY 1, 2""", [b, a]).df()
    matrix = pd.DataFrame()
    if len(moved):
        matrix = moved.pivot(index="a", columns="b", values="n").fillna(0).astype(int)
        order = [s for s in (*SEGMENTS, *sorted(set(matrix.index) | set(matrix.columns))) if s in matrix.index]
        cols = [s for s in (*SEGMENTS, *sorted(set(matrix.index) | set(matrix.columns))) if s in matrix.columns]
        matrix = matrix.loc[list(dict.fromkeys(order)), list(dict.fromkeys(cols))]
        matrix.index.name, matrix.columns.name = "A \\ B", None
    return _frame(out), matrix


def _model(con, a, b) -> pd.DataFrame:
    rows = {r[0]: r for r in con.execute(
        "SELECT run_id, model_version, algorithm, n_train, metrics, data_sha256 FROM model_registry WHERE run_id IN (?, ?)",
        [a, b]).fetchall()}
    ra, rb = rows.get(a), rows.get(b)
    if ra is None and rb is None:
        return _frame([])
    va, vb = (ra[1] if ra else None), (rb[1] if rb else None)
    out = [{"measure": "model version (sha256)", "a": va[:12] + "…" if va else None, "b": vb[:12] + "…" if vb else None,
            "change": "same model" if va == vb else "different model"},
           _row("algorithm", ra[2] if ra else None, rb[2] if rb else None),
           _row("labelled customers trained on", ra[3] if ra else None, rb[3] if rb else None),
           _row("training data", (ra[5] or "")[:12] + "…" if ra else None, (rb[5] or "")[:12] + "…" if rb else None,
                change="same data" if ra and rb and ra[5] == rb[5] else "different data")]
    # A run whose new model failed the quality gate keeps (and registers) the deployed one.
    events = dict(con.execute("SELECT run_id, arg_max(event_type, seq) FROM audit_log WHERE run_id IN (?, ?) AND "
                              "event_type IN ('model_trained', 'model_reused', 'model_not_promoted') GROUP BY 1",
                              [a, b]).fetchall())
    how = {"model_trained": "trained and promoted", "model_reused": "reused (training data unchanged)",
           "model_not_promoted": "kept the deployed one (new model failed the gate)"}
    if events:
        out.insert(1, _row("model of this run", how.get(events.get(a)), how.get(events.get(b))))
    ma, mb = _json(ra[4]) if ra else {}, _json(rb[4]) if rb else {}
    for key, label in MODEL_METRICS.items():
        x, y = ma.get(key), mb.get(key)
        if isinstance(x, (int, float)) or isinstance(y, (int, float)):
            out.append(_row(label, x if isinstance(x, (int, float)) else None, y if isinstance(y, (int, float)) else None))
    return _frame(out)


def _actions(con, a, b) -> pd.DataFrame:
    status = {(r, s): n for r, s, n in con.execute(
        "SELECT run_id, status, count(*) FROM actions WHERE run_id IN (?, ?) GROUP BY 1, 2", [a, b]).fetchall()}
    kinds = {(r, t): n for r, t, n in con.execute(
        "SELECT run_id, action_type, count(*) FROM actions WHERE run_id IN (?, ?) AND status <> 'control' GROUP BY 1, 2",
        [a, b]).fetchall()}
    targeting = dict(con.execute(
        "SELECT run_id, arg_max(details ->> '$.method', seq) FROM audit_log WHERE event_type = 'targeting' "
        "AND run_id IN (?, ?) GROUP BY 1", [a, b]).fetchall())
    out = []
    if targeting:
        out.append(_row("customers chosen by", targeting.get(a), targeting.get(b)))
    for s in sorted({s for _, s in status}, key=lambda s: (s == "control", s)):
        label = "held out as control group" if s == "control" else f"status {s}"
        out.append(_row(label, status.get((a, s), 0), status.get((b, s), 0)))
    for t in sorted({t for _, t in kinds}):
        out.append(_row(f"action {t}", kinds.get((a, t), 0), kinds.get((b, t), 0)))
    both = con.execute("""SELECT count(*) FROM actions x JOIN actions y ON x.customer_id = y.customer_id
                          WHERE x.run_id = ? AND y.run_id = ? AND x.status <> 'control' AND y.status <> 'control'""",
                       [a, b]).fetchone()[0]
    if out:
        out.append({"measure": "customers contacted in both runs", "a": _fmt(int(both)), "b": _fmt(int(both)), "change": ""})
    return _frame(out)


def _llm(con, a, b) -> pd.DataFrame:
    rows = con.execute("""SELECT run_id, stage, provider || ':' || model AS model, count(*) AS requests,
                                 coalesce(sum(n_items), 0) AS items,
                                 count(*) FILTER (WHERE outcome IS DISTINCT FROM 'ok') AS not_ok,
                                 coalesce(sum(prompt_tokens), 0) + coalesce(sum(completion_tokens), 0) AS tokens
                          FROM llm_egress WHERE run_id IN (?, ?) GROUP BY 1, 2, 3""", [a, b]).fetchall()
    by = {}
    for run, stage, model, requests, items, not_ok, tokens in rows:
        entry = by.setdefault((run, stage), {"models": set(), "requests": 0, "items": 0, "not_ok": 0, "tokens": 0})
        entry["models"].add(model)
        for key, value in (("requests", requests), ("items", items), ("not_ok", not_ok), ("tokens", tokens)):
            entry[key] += int(value)
    out = []
    providers = {r: p for r, p in con.execute("SELECT run_id, llm_provider FROM runs WHERE run_id IN (?, ?)", [a, b]).fetchall()}
    out.append(_row("LLM backend", providers.get(a) or "local", providers.get(b) or "local"))
    for stage in sorted({s for _, s in by}):
        ea, eb = by.get((a, stage), {}), by.get((b, stage), {})
        out.append(_row(f"{stage}: model", ", ".join(sorted(ea.get("models", []))) or None,
                        ", ".join(sorted(eb.get("models", []))) or None))
        for key, label in (("requests", "requests sent"), ("items", "items sent"), ("not_ok", "requests that failed"),
                           ("tokens", "tokens")):
            out.append(_row(f"{stage}: {label}", ea.get(key, 0), eb.get(key, 0)))
    if not by:
        out.append({"measure": "requests sent", "a": "0", "b": "0", "change": "nothing left the machine in either run"})
    return _frame(out)
