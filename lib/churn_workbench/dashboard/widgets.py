"""Widgets for the stakeholder dashboard (notebooks/dashboard.ipynb, served by Voilà).

Everything here lays out what `DashboardData` computes: tables are HTML rendered by
pandas (escaped), plots are matplotlib PNGs in `ipywidgets.Image`, so nothing is fetched from
the internet. Each section is a function `(data, context) -> Widget`; the notebook chooses the
sections and their order. Widgets carry `wb-*` CSS classes that the browser test drives.
"""
from __future__ import annotations

import html
import io
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ipywidgets as W
import pandas as pd
from IPython.display import Markdown, display

from ..pseudonyms import SubjectRefs
from ..config import Settings, load_settings
from ..errors import SnapshotGone
from .data import CustomerFilter, DashboardData, load
from ..workspace import snapshot_dir_of

ANY = "(any)"
ALL_RUNS = "(all runs)"
PAGE_SIZE = 25
SEGMENT_COLOURS = {"High": "#c0392b", "Medium": "#e67e22", "Low": "#27ae60"}

CSS = """
<style>
.wb-root { font-family: var(--jp-ui-font-family, sans-serif); max-width: 1250px; }
.wb-title { font-size: 1.5em; font-weight: 600; margin: 0 0 2px 0; }
.wb-muted { color: #666; font-size: 0.9em; }
.wb-cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 12px 0; }
.wb-card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; background: #fafafa; }
.wb-card .v { font-size: 1.6em; font-weight: 600; }
.wb-card .l { color: #555; font-size: 0.85em; }
.wb-badge { display: inline-block; padding: 3px 10px; border-radius: 12px; color: white; font-weight: 600; }
.wb-ok { background: #27ae60; } .wb-bad { background: #c0392b; } .wb-warn { background: #e67e22; }
table.wb-table { border-collapse: collapse; font-size: 0.85em; margin: 4px 0 10px 0; }
table.wb-table th { background: #f0f0f0; text-align: left; padding: 3px 8px; border-bottom: 1px solid #ccc; }
table.wb-table td { padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top;
                    max-width: 520px; overflow-wrap: break-word; white-space: normal; }
.wb-h { font-size: 1.15em; font-weight: 600; margin: 14px 0 4px 0; }
.wb-empty { padding: 30px; border: 2px dashed #bbb; border-radius: 8px; max-width: 760px; }
.wb-empty code, .wb-root code { background: #f3f3f3; padding: 1px 5px; border-radius: 3px; }
</style>
"""


# --------------------------------------------------------------------------------------------
# small building blocks
# --------------------------------------------------------------------------------------------

def table_html(frame: pd.DataFrame | None, empty: str = "nothing to show", max_chars: int | None = None) -> str:
    if frame is None or frame.empty:
        return f"<div class='wb-muted'>{html.escape(empty)}</div>"
    shown = frame.copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = shown[col].map(lambda v: _cell(v, max_chars))
        elif pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:,.4g}")
    return shown.to_html(index=False, escape=True, border=0, classes="wb-table", na_rep="")


def _cell(value, max_chars: int | None):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if max_chars is None or len(text) <= max_chars else text[: max_chars - 1] + "…"


def table(frame: pd.DataFrame | None, css_class: str | None = None, **kwargs) -> W.HTML:
    widget = W.HTML(table_html(frame, **kwargs))
    if css_class:
        widget.add_class(css_class)
    return widget


def heading(text: str) -> W.HTML:
    return W.HTML(f"<div class='wb-h'>{html.escape(text)}</div>")


def note(text: str) -> W.HTML:
    return W.HTML(f"<div class='wb-muted'>{html.escape(text)}</div>")


def cards(items: list[tuple[str, str]], css_class: str = "wb-kpis") -> W.HTML:
    body = "".join(f"<div class='wb-card'><div class='v'>{html.escape(v)}</div><div class='l'>{html.escape(k)}</div></div>"
                   for k, v in items)
    widget = W.HTML(f"<div class='wb-cards'>{body}</div>")
    widget.add_class(css_class)
    return widget


def badge(ok: bool | None, text: str) -> str:
    cls = "wb-ok" if ok else ("wb-warn" if ok is None else "wb-bad")
    return f"<span class='wb-badge {cls}'>{html.escape(text)}</span>"


def png(fig) -> bytes:
    """A matplotlib Figure as PNG bytes (Agg canvas: no display, no network)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return buffer.getvalue()


def image(content: bytes, width: str | None = None) -> W.Image:
    widget = W.Image(value=content, format="png")
    if width:
        widget.layout.width = width
    return widget


def figure(width: float = 6.0, height: float = 3.0):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


def number(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def dropdown(options: list, description: str, css_class: str, first: str = ANY, width: str = "230px") -> W.Dropdown:
    widget = W.Dropdown(options=[first, *options], value=first, description=description,
                        layout=W.Layout(width=width), style={"description_width": "initial"})
    widget.add_class(css_class)
    return widget


def chosen(widget) -> str | None:
    return None if widget.value in (ANY, ALL_RUNS, "", None) else widget.value


def guarded(out: W.Output, render: Callable[[], None]) -> None:
    """Run a callback's rendering into `out`; an error becomes a short message, not a traceback."""
    out.clear_output(wait=True)
    with out:
        try:
            render()
        except SnapshotGone as exc:
            display(W.HTML(f"<div class='wb-muted'>{html.escape(str(exc))}</div>"))
        except Exception as exc:  # shown to the user, logged for the operator
            traceback.print_exc(file=sys.__stderr__)  # the server log, not the page
            display(W.HTML(f"<div class='wb-muted'>Could not show this: {html.escape(type(exc).__name__)}: "
                           f"{html.escape(str(exc))}</div>"))


# --------------------------------------------------------------------------------------------
# context
# --------------------------------------------------------------------------------------------

@dataclass
class Context:
    """What sections need besides the data: settings and (if readable) the subject-ref key."""
    settings: Settings
    refs: SubjectRefs | None


def subject_refs(settings: Settings) -> SubjectRefs | None:
    """The workbench's pseudonymous refs, only if the key already exists (never create one here)."""
    if settings.subject_key or Path(settings.subject_key_file).is_file():
        try:
            return SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
        except OSError:
            return None
    return None


def resolve_snapshot_dir(snapshot_dir: str | os.PathLike | None, settings: Settings) -> Path:
    """The notebook's `snapshot_dir` parameter; empty means the pipeline's default for the DB."""
    return Path(snapshot_dir) if snapshot_dir else snapshot_dir_of(settings.db_path)


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------

def overview(data: DashboardData, ctx: Context) -> W.Widget:
    run = data.last_run()
    k = data.kpis()
    status = run["status"] if run else "none"
    ok = {"succeeded": True, "failed": False}.get(status)
    run_box = W.HTML(
        f"<div class='wb-h'>Last run {badge(ok, status)}</div>"
        f"<div><code>{html.escape(run['run_id'])}</code> started {html.escape(str(run['started_at']))}, "
        f"took {number(run['duration_s'], 1)} s, LLM provider <b>{html.escape(str(run['llm_provider']))}</b>"
        + (f"<br><span class='wb-muted'>error: {html.escape(str(run['error']))}</span>" if run.get("error") else "")
        + "</div>")
    run_box.add_class("wb-last-run")
    volumes = pd.DataFrame([run["volumes"]]) if run else pd.DataFrame()
    kpi_cards = cards([
        ("customers", number(k["customers"])), ("scored", number(k["scored"])),
        ("High risk", number(k["segments"]["High"])), ("Medium risk", number(k["segments"]["Medium"])),
        ("Low risk", number(k["segments"]["Low"])),
        ("avg churn probability", "–" if k["avg_churn_probability"] is None else f"{k['avg_churn_probability']:.1%}"),
        ("control group", number(k["control_group"])),
    ])
    actions = cards([(f"actions: {s}", number(n)) for s, n in k["actions_by_status"].items()] or [("actions", "0")],
                    "wb-actions")
    children = [run_box, heading("Data volumes of this run"), table(volumes), heading("Key figures"),
                kpi_cards, heading("Actions by status"), actions]
    trend = data.trend()
    if (trend["scored"] > 0).any():
        children += [heading("Trend over runs"), image(png(_trend_figure(trend)), "760px")]
    return W.VBox(children)


def _trend_figure(trend: pd.DataFrame):
    fig = figure(8, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    x = range(len(trend))
    bottom = [0] * len(trend)
    for seg, col in (("High", "high"), ("Medium", "medium"), ("Low", "low")):
        ax.bar(x, trend[col], bottom=bottom, color=SEGMENT_COLOURS[seg], label=seg, width=0.6)
        bottom = [b + v for b, v in zip(bottom, trend[col])]
    ax.set_ylabel("customers scored")
    ax.set_xticks(list(x))
    labels = [f"{pd.Timestamp(t):%m-%d %H:%M}" if pd.notna(t) else str(r)[:12]
              for r, t in zip(trend["run_id"], trend["started_at"])]
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=7)
    ax.set_xlabel("run (start time, UTC)")
    ax2 = ax.twinx()
    ax2.plot(list(x), trend["avg_probability"], "k.-", label="avg probability")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("avg churn probability")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def customers(data: DashboardData, ctx: Context) -> W.Widget:
    opts = data.filter_options()
    segment = dropdown(opts["segment"], "Segment", "wb-filter-segment")
    probability = W.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.05, description="Probability",
                                     continuous_update=False, readout_format=".2f", layout=W.Layout(width="330px"))
    probability.add_class("wb-filter-probability")
    sentiment = dropdown(opts["sentiment"], "Sentiment", "wb-filter-sentiment")
    topic = dropdown(opts["topic"], "Topic", "wb-filter-topic")
    consent = dropdown(opts["consent"], "Consent", "wb-filter-consent")
    status = dropdown(opts["action_status"], "Action", "wb-filter-action")
    search = W.Text(placeholder="customer id contains…", description="Search", continuous_update=False,
                    layout=W.Layout(width="260px"))
    search.add_class("wb-filter-search")
    prev_btn, next_btn = W.Button(description="◀ prev", layout=W.Layout(width="80px")), W.Button(
        description="next ▶", layout=W.Layout(width="80px"))
    next_btn.add_class("wb-next")
    count = W.HTML()
    count.add_class("wb-customer-count")
    result = W.HTML()
    result.add_class("wb-customer-table")
    pick = W.Dropdown(options=[], description="Customer", layout=W.Layout(width="260px"))
    pick.add_class("wb-drill-pick")
    typed = W.Text(placeholder="or type a customer id", continuous_update=False, layout=W.Layout(width="220px"))
    typed.add_class("wb-drill-id")
    show = W.Button(description="Show customer", button_style="primary")
    show.add_class("wb-drill-show")
    detail = W.Output()
    detail.add_class("wb-drill-out")
    state = {"offset": 0}

    def current_filter() -> CustomerFilter:
        lo, hi = probability.value
        return CustomerFilter(segment=chosen(segment), min_probability=lo, max_probability=hi,
                                       sentiment=chosen(sentiment), topic=chosen(topic), consent=chosen(consent),
                                       action_status=chosen(status), search=search.value or None)

    def refresh(*_, reset: bool = True):
        if reset:
            state["offset"] = 0
        try:
            page = data.customers(current_filter(), limit=PAGE_SIZE, offset=state["offset"])
        except Exception as exc:
            count.value = f"<span class='wb-muted'>{html.escape(str(exc))}</span>"
            return
        first = state["offset"] + 1 if page.total else 0
        last = state["offset"] + len(page.rows)
        result.value = table_html(page.rows, empty="no customer matches these filters")
        count.value = f"<b>{page.total:,}</b> customers match; showing {first:,}–{last:,}"
        ids = page.rows["customer_id"].tolist()
        pick.options = ids
        pick.value = ids[0] if ids else None
        prev_btn.disabled = state["offset"] == 0
        next_btn.disabled = last >= page.total

    def move(step):
        state["offset"] = max(0, state["offset"] + step * PAGE_SIZE)
        refresh(reset=False)

    def show_detail(*_):
        cid = (typed.value or "").strip() or pick.value
        guarded(detail, lambda: display(customer_detail(data, ctx, cid)))

    for widget in (segment, probability, sentiment, topic, consent, status, search):
        widget.observe(refresh, names="value")
    prev_btn.on_click(lambda _: move(-1))
    next_btn.on_click(lambda _: move(1))
    show.on_click(show_detail)
    typed.observe(show_detail, names="value")
    refresh()
    filters = W.VBox([W.HBox([segment, sentiment, topic]), W.HBox([probability, consent, status]),
                      W.HBox([search])])
    return W.VBox([heading("Filter customers"), filters, W.HBox([count, prev_btn, next_btn]), result,
                   heading("Drill-down"), W.HBox([pick, typed, show]), detail])


def customer_detail(data: DashboardData, ctx: Context, customer_id: str | None) -> W.Widget:
    """One customer: risk and drivers, anonymized feedback analysis, action, consent, audit trail."""
    if not customer_id:
        return note("Pick a customer from the table or type an id.")
    d = data.customer_detail(customer_id, ctx.refs)
    if d is None:
        return note(f"No customer {customer_id} in this snapshot.")
    probability = d["churn_probability"]
    risk = (f"churn probability <b>{probability:.1%}</b>, segment {badge(d['segment'] != 'High', d['segment'])}"
            if probability is not None else "not scored (no profiling consent, or not in the latest prediction run)")
    head = W.HTML(f"<div class='wb-h'>Customer <code>{html.escape(d['customer_id'])}</code></div><div>{risk}"
                  + (f" · model <code>{html.escape(str(d['model_version'])[:12])}</code>" if d["model_version"] else "")
                  + "</div>")
    head.add_class("wb-drill-head")
    profile = pd.DataFrame([{k: v for k, v in d["profile"].items() if k != "customer_id"}])
    trail_note = [note(d["audit_trail_note"])] if d["audit_trail_note"] else []
    feedback = d["feedback"].copy()
    return W.VBox([
        head,
        heading("Why: top risk drivers (feature and this customer's value)"), table(d["drivers"], empty="no drivers recorded"),
        heading("Profile (features only; identifiers are never in the dashboard)"), table(profile, empty="no features"),
        heading("Feedback analysis (anonymized text)"), table(feedback, "wb-drill-feedback", empty="no feedback", max_chars=400),
        heading("Retention action"), table(d["actions"], empty="no action in the latest action run", max_chars=300),
        heading("Consent (latest record per purpose)"), table(d["consent"]),
        heading("Audit trail (by pseudonymous subject ref)"), *trail_note,
        table(d["audit_trail"], "wb-drill-audit", empty="no audit events for this customer", max_chars=200),
    ])


def model(data: DashboardData, ctx: Context) -> W.Widget:
    versions = data.model_versions()
    if versions.empty:
        return note("No model has been registered yet: the train stage has not run.")
    pick = W.Dropdown(options=[(f"{v[:12]}… ({r})", v) for v, r in zip(versions["model_version"], versions["run_id"])],
                      description="Model version", style={"description_width": "initial"}, layout=W.Layout(width="520px"))
    pick.add_class("wb-model-pick")
    out = W.Output()

    def render(*_):
        def body():
            version = pick.value
            card = data.model_card(version)
            images = data.model_images(version)
            importance = data.feature_importance(version)
            parts: list[W.Widget] = []
            if images:
                parts += [heading("Evaluation plots"),
                          W.HBox([W.VBox([note(name), image(content, "420px")]) for name, content in images],
                                 layout=W.Layout(flex_flow="row wrap"))]
            if importance is not None and len(importance):
                parts += [heading("Feature importance"), image(png(_importance_figure(importance)), "560px")]
            drivers = data.driver_frequency()
            if len(drivers):
                parts += [heading("Most frequent risk drivers in the latest predictions"),
                          image(png(_drivers_figure(drivers)), "560px")]
            display(W.VBox(parts))
            display(W.HTML("<div class='wb-h'>Model card</div>"))
            display(Markdown(card) if card else note("No model card stored for this version."))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    return W.VBox([heading("Version history"), table(versions), pick, out])


def _importance_figure(importance: pd.DataFrame):
    top = importance.head(15).iloc[::-1]
    fig = figure(6, 0.3 * len(top) + 0.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(top["feature"].astype(str), top["importance"], color="#2c7fb8")
    ax.set_xlabel("importance")
    return fig


def _drivers_figure(drivers: pd.DataFrame):
    top = drivers.iloc[::-1]
    fig = figure(6, 0.3 * len(top) + 0.9)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(top["feature"].astype(str), top["customers"], color="#9ecae1", label="among a customer's drivers")
    ax.barh(top["feature"].astype(str), top["as_top_driver"], color="#3182bd", label="the top driver")
    ax.set_xlabel("customers")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def governance(data: DashboardData, ctx: Context) -> W.Widget:
    status = data.audit_status()
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in status["problems"][:10])
    audit_box = W.HTML(
        f"<div class='wb-h'>Audit chain {badge(status['ok'], 'verified' if status['ok'] else 'NOT verified')}</div>"
        f"<div>{html.escape(status['summary'])}</div>"
        f"<div class='wb-muted'>checked when this snapshot was published ({html.escape(str(status['published_at']))})</div>"
        + (f"<ul>{problems}</ul>" if problems else ""))
    audit_box.add_class("wb-audit-status")
    coverage = data.consent_coverage()
    runs = data.audit_filter_options()["run_id"]

    anon_run = dropdown(runs, "Run", "wb-anon-run", first=ALL_RUNS, width="330px")
    anon_out = W.Output()

    def anon(*_):
        def body():
            counts = data.anonymization_counts(chosen(anon_run))
            blocks = data.egress_blocks(chosen(anon_run))
            display(table(counts, empty="no anonymization events"))
            if len(counts):
                fig = figure(5, 0.3 * len(counts) + 0.8)
                ax = fig.add_subplot(1, 1, 1)
                ax.barh(counts["entity_type"][::-1], counts["count"][::-1], color="#756bb1")
                ax.set_xlabel("entities replaced before egress")
                display(image(png(fig), "460px"))
            display(heading(f"Residual-PII blocks (nothing sent): {len(blocks)}"))
            display(table(blocks, empty="no request was blocked", max_chars=300))
        guarded(anon_out, body)
    anon_run.observe(anon, names="value")
    anon()

    egress_text = W.Text(placeholder="search the payloads…", description="Search", continuous_update=False)
    egress_text.add_class("wb-egress-search")
    egress_run = dropdown(runs, "Run", "wb-egress-run", first=ALL_RUNS, width="330px")
    egress_out = W.Output()

    def egress(*_):
        def body():
            page = data.egress_search(egress_text.value, chosen(egress_run), limit=50)
            display(note(f"{page.total:,} request(s) match; newest 50 shown. This is exactly what was sent."))
            display(table(page.rows, "wb-egress-table", empty="nothing left the machine", max_chars=600))
        guarded(egress_out, body)
    egress_text.observe(egress, names="value")
    egress_run.observe(egress, names="value")
    egress()

    usage = data.llm_usage()
    total_cost = usage["est_cost_usd"].sum(min_count=1) if len(usage) else None

    options = data.audit_filter_options()
    f_run = dropdown(options["run_id"], "Run", "wb-audit-run", first=ALL_RUNS, width="330px")
    f_stage = dropdown(options["stage"], "Stage", "wb-audit-stage")
    f_type = dropdown(options["event_type"], "Event", "wb-audit-type", width="280px")
    f_status = dropdown(options["status"], "Status", "wb-audit-status-filter")
    log_out = W.Output()

    def log(*_):
        def body():
            frame = data.audit_events(chosen(f_run), chosen(f_stage), chosen(f_type), chosen(f_status), limit=200)
            display(note(f"newest {len(frame)} matching event(s)"))
            display(table(frame, "wb-audit-table", empty="no events match", max_chars=240))
        guarded(log_out, body)
    for widget in (f_run, f_stage, f_type, f_status):
        widget.observe(log, names="value")
    log()

    return W.VBox([
        audit_box,
        heading("Consent coverage per purpose (latest record wins; no record = no consent)"), table(coverage, "wb-consent"),
        heading("Anonymization: entities replaced, by type"), anon_run, anon_out,
        heading("What left the machine (LLM egress log)"), W.HBox([egress_text, egress_run]), egress_out,
        heading("LLM usage and estimated cost per run"),
        note("cost estimated from list prices (dashboard.publish.LLM_PRICES_USD_PER_MTOK); blank = unknown price"
             + (f"; total ≈ ${total_cost:,.4f}" if total_cost is not None and pd.notna(total_cost) else "")),
        table(usage, empty="no LLM request was made (offline analyzer)"),
        heading("Audit log"), W.HBox([f_run, f_stage]), W.HBox([f_type, f_status]), log_out,
    ])


def runs(data: DashboardData, ctx: Context) -> W.Widget:
    frame = data.runs()
    pick = W.Dropdown(options=frame["run_id"].tolist(), description="Run", layout=W.Layout(width="420px"))
    pick.add_class("wb-run-pick")
    out = W.Output()

    def render(*_):
        def body():
            notebooks = data.run_notebooks(pick.value)
            manifest = data.run_manifest(pick.value)
            display(table(notebooks, "wb-run-notebooks", empty="no stage ran"))
            if manifest:
                head = manifest.get("chain_head", {})
                display(W.HTML(f"<div>manifest <code>{html.escape(str(pick.value))}/manifest.json</code>: chain head "
                               f"seq {head.get('seq')} <code>{html.escape(str(head.get('hash', ''))[:16])}…</code>, "
                               f"{len(manifest.get('artefacts', {}))} artefact(s) hashed, written "
                               f"{html.escape(str(manifest.get('written_at')))}</div>"))
                artefacts = pd.DataFrame([{"artefact": k, "sha256": v.get("sha256"), "path": v.get("path")}
                                          for k, v in manifest.get("artefacts", {}).items()])
                display(table(artefacts))
            else:
                display(note("no manifest for this run (it did not finish, or was run by hand)"))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    return W.VBox([heading("Runs"), table(frame, "wb-runs"),
                   heading("Executed notebooks and their sha256 (audit/runs/<run_id>/)"), pick, out])


def effect(data: DashboardData, ctx: Context) -> W.Widget:
    """Did the actions work? Treated vs control churn by offer and segment, with 95% intervals,
    and the Qini curve of the run's risk ranking."""
    runs = data.effect_runs()
    if not runs:
        return note("No outcomes yet. Attach observed churn with `run_pipeline.py --outcomes FILE` "
                    "(or, on synthetic data, `--simulate-outcomes RUN_ID`).")
    pick = W.Dropdown(options=runs, description="Run", layout=W.Layout(width="420px"))
    pick.add_class("wb-effect-run")
    out = W.Output()
    min_control = ctx.settings.min_control

    def render(*_):
        def body():
            parts: list[W.Widget] = [note("effect = control churn rate - treated churn rate (positive: the actions "
                                          f"kept customers), 95% interval; below {min_control} control customers "
                                          "a group shows \"not enough data\"")]
            for title, dimension in (("Overall", "overall"), ("By action type", "action_type"), ("By segment", "segment")):
                frame = data.effect_summary(pick.value, dimension, min_control)
                parts += [heading(title), table(_effect_display(frame), f"wb-effect-{dimension.replace('_', '-')}")]
                if dimension != "overall" and frame["effect"].notna().any():
                    parts.append(image(png(_effect_figure(frame)), "560px"))
            curve = data.effect_qini(pick.value)
            if len(curve):
                parts += [heading("Qini curve: customers kept by targeting the top x% by risk"),
                          image(png(_qini_figure(curve)), "560px")]
            display(W.VBox(parts))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    return W.VBox([heading("Effect of the retention actions"), pick, out])


def _effect_display(frame: pd.DataFrame) -> pd.DataFrame:
    shown = frame.copy()
    for col in ("churn_treated", "churn_control", "effect", "ci_low", "ci_high"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:+.1%}" if col in ("effect", "ci_low", "ci_high")
                                    else f"{v:.1%}").astype(object)
    return shown


def _effect_figure(frame: pd.DataFrame):
    shown = frame[frame["effect"].notna()].iloc[::-1]
    fig = figure(6, 0.35 * len(shown) + 0.9)
    ax = fig.add_subplot(1, 1, 1)
    y = range(len(shown))
    ax.errorbar(shown["effect"], list(y), xerr=[shown["effect"] - shown["ci_low"], shown["ci_high"] - shown["effect"]],
                fmt="o", color="#2c7fb8", capsize=3)
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(list(y))
    ax.set_yticklabels(shown["group"].astype(str))
    ax.set_xlabel("effect on churn (control - treated), 95% interval")
    return fig


def _qini_figure(curve: pd.DataFrame):
    fig = figure(6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for policy, part in curve.groupby("policy"):
        ax.plot(part["fraction"], part["incremental"], ".-", label=policy)
        ax.plot([0, 1], [0, part["incremental"].iloc[-1]], "--", color="#999", label="random targeting")
    ax.set_xlabel("share of the experiment's customers targeted (highest score first)")
    ax.set_ylabel("incremental customers kept")
    ax.legend(fontsize=7, loc="upper left")
    return fig


# --------------------------------------------------------------------------------------------
# the app
# --------------------------------------------------------------------------------------------

Section = Callable[[DashboardData, Context], W.Widget]
SECTIONS: list[tuple[str, Section]] = [("Overview", overview), ("Customers", customers), ("Model", model),
                                       ("Governance", governance), ("Runs", runs)]
SECTIONS.append(("Effect", effect))


def empty_page(data: DashboardData) -> W.HTML:
    widget = W.HTML(
        "<div class='wb-empty'><div class='wb-title'>Nothing to show yet</div>"
        f"<p>{html.escape(data.message)}</p>"
        "<p>Run the pipeline once, e.g. <code>make run</code> (or <code>python run_pipeline.py</code>); "
        "every run, successful or not, publishes the snapshot this dashboard reads. Then press "
        "<b>Reload</b>.</p></div>")
    widget.add_class("wb-empty-page")
    return widget


class Dashboard:
    """The whole page: a header (snapshot time, audit status, reload) and one tab per section."""

    def __init__(self, snapshot_dir: str | os.PathLike | None = None, settings: Settings | None = None,
                 sections: list[tuple[str, Section]] | None = None):
        self.settings = settings or load_settings()
        self.snapshot_dir = resolve_snapshot_dir(snapshot_dir, self.settings)
        self.sections = sections or SECTIONS
        self.context = Context(self.settings, subject_refs(self.settings))
        self.data: DashboardData | None = None
        self.reload_button = W.Button(description="Reload", tooltip="read the newest snapshot")
        self.reload_button.add_class("wb-reload")
        self.reload_button.on_click(lambda _: self.reload())
        self.header = W.HTML()
        self.body = W.VBox()
        self.widget = W.VBox([W.HTML(CSS), W.HBox([self.header, self.reload_button]), self.body])
        self.widget.add_class("wb-root")
        self.reload()

    def reload(self) -> None:
        if self.data is not None:
            self.data.close()
        self.data = load(self.snapshot_dir)
        data = self.data
        published = data.meta.get("published_at", "never")
        audit_ok = data.audit_status()["ok"] if data.meta else None
        self.header.value = (
            "<div class='wb-title'>Churn workbench</div>"
            f"<div class='wb-muted'>snapshot published {html.escape(str(published))} · audit "
            f"{badge(audit_ok, 'verified' if audit_ok else ('not verified' if audit_ok is False else 'unknown'))}"
            "</div>")
        if not data.ready:
            self.body.children = [empty_page(data)]
            return
        tabs, titles = [], []
        for title, build in self.sections:
            holder = W.Output()
            guarded(holder, lambda build=build: display(build(data, self.context)))
            holder.add_class(f"wb-section-{title.lower()}")
            tabs.append(holder)
            titles.append(title)
        tab = W.Tab(children=tabs, titles=titles)
        tab.add_class("wb-tabs")
        self.body.children = [tab]

    def _ipython_display_(self):
        display(self.widget)
