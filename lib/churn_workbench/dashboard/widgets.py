"""Widgets for the stakeholder dashboard (notebooks/dashboard.ipynb, served by Voilà).

Everything here lays out what `DashboardData` computes: tables are HTML rendered by
pandas (escaped), plots are matplotlib PNGs in `ipywidgets.Image`, so nothing is fetched from
the internet. Each section is a function `(data, context) -> Widget`; the notebook chooses the
sections and their order. Widgets carry `wb-*` CSS classes that the browser test drives.
"""
from __future__ import annotations

import html
import io
import json
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
from . import words
from .data import CustomerFilter, DashboardData, load
from ..workspace import snapshot_dir_of

ANY = "(any)"
ALL_RUNS = "(all runs)"
PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 20
EGRESS_PAGE_SIZE = 10
SEGMENT_COLOURS = {"High": "#c0392b", "Medium": "#e67e22", "Low": "#27ae60"}

# Sized for a 1280 px wide window: nothing scrolls sideways, long text wraps inside its cell.
CSS = """
<style>
.wb-root { font-family: var(--jp-ui-font-family, sans-serif); max-width: 1180px; }
.wb-title { font-size: 1.5em; font-weight: 600; margin: 0 0 2px 0; }
.wb-muted { color: #666; font-size: 0.9em; }
.wb-explain { color: #555; font-size: 0.85em; margin: 0 0 6px 0; max-width: 1100px; }
.wb-cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 4px 0; }
.wb-card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; max-width: 260px;
           background: #fafafa; }
.wb-card .v { font-size: 1.6em; font-weight: 600; }
.wb-card .l { color: #555; font-size: 0.85em; }
.wb-badge { display: inline-block; padding: 3px 10px; border-radius: 12px; color: white; font-weight: 600; }
.wb-ok { background: #27ae60; } .wb-bad { background: #c0392b; } .wb-warn { background: #e67e22; }
table.wb-table { border-collapse: collapse; font-size: 0.85em; margin: 4px 0 10px 0; max-width: 1150px; }
table.wb-table th { background: #f0f0f0; text-align: left; padding: 3px 8px; border-bottom: 1px solid #ccc;
                    vertical-align: bottom; }
table.wb-table td { padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top;
                    max-width: 460px; overflow-wrap: anywhere; white-space: normal; }
table.wb-table td.wb-wide { min-width: 260px; }
.wb-h { font-size: 1.15em; font-weight: 600; margin: 14px 0 4px 0; }
.wb-empty { padding: 30px; border: 2px dashed #bbb; border-radius: 8px; max-width: 760px; }
.wb-empty code, .wb-root code { background: #f3f3f3; padding: 1px 5px; border-radius: 3px; overflow-wrap: anywhere; }
pre.wb-json { white-space: pre-wrap; overflow-wrap: anywhere; background: #f7f7f7; padding: 8px; max-width: 1100px;
              font-size: 0.8em; }
</style>
"""


# --------------------------------------------------------------------------------------------
# small building blocks
# --------------------------------------------------------------------------------------------

def table_html(frame: pd.DataFrame | None, empty: str = "nothing to show", max_chars: int | None = None,
               wide: tuple[str, ...] = ()) -> str:
    """An escaped HTML table. Cells of the `wide` columns (long text) get a minimum width, so a
    narrow neighbour never squeezes them to one word per line."""
    if frame is None or frame.empty:
        return f"<div class='wb-muted'>{html.escape(empty)}</div>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    classes = ["<td class='wb-wide'>" if c in wide else "<td>" for c in frame.columns]
    body = "".join("<tr>" + "".join(f"{cls}{html.escape(_cell(v, max_chars))}</td>" for cls, v in zip(classes, row))
                   + "</tr>" for row in frame.itertuples(index=False, name=None))
    return f"<table class='wb-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value, max_chars: int | None) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:,.4g}"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(map(str, value))
    else:
        text = str(value)
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


def explain(text: str) -> W.HTML:
    """The one line under a technical figure that says what it means."""
    widget = W.HTML(f"<div class='wb-explain'>{html.escape(text)}</div>")
    widget.add_class("wb-explain-line")
    return widget


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
        widget.layout.max_width = "100%"
    return widget


def figure(width: float = 6.0, height: float = 3.0):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


def number(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def dropdown(options: list, description: str, css_class: str, first: str = ANY, width: str = "230px",
             label: Callable[[str], str] | None = None) -> W.Dropdown:
    """A filter; `label` turns each value into what the reader sees (the value stays the store's)."""
    pairs = [(first, first)] + [((label(o) if label else str(o)), o) for o in options]
    widget = W.Dropdown(options=pairs, value=first, description=description,
                        layout=W.Layout(width=width), style={"description_width": "initial"})
    widget.add_class(css_class)
    return widget


def chosen(widget) -> str | None:
    return None if widget.value in (ANY, ALL_RUNS, "", None) else widget.value


def pager(on_move: Callable[[int], None]) -> tuple[W.Button, W.Button]:
    back, forward = W.Button(description="◀ previous", layout=W.Layout(width="100px")), \
        W.Button(description="next ▶", layout=W.Layout(width="90px"))
    back.on_click(lambda _: on_move(-1))
    forward.on_click(lambda _: on_move(1))
    return back, forward


def page_text(total: int, offset: int, shown: int, noun: str) -> str:
    first = offset + 1 if total else 0
    return f"<b>{total:,}</b> {noun} match; showing {first:,}–{offset + shown:,}"


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
    provider = str(run["llm_provider"] or "local")
    ai = "offline analyzer (nothing left the machine)" if provider == "local" else provider
    run_box = W.HTML(
        f"<div class='wb-h'>Last run {badge(ok, status)}</div>"
        f"<div>Run <code>{html.escape(run['run_id'])}</code> started {html.escape(words.when(run['started_at']))} UTC "
        f"and took {html.escape(words.seconds(run['duration_s']) or 'unknown')}; AI service: {html.escape(ai)}."
        + (f"<br><span class='wb-muted'>Error: {html.escape(str(run['error']))}</span>" if run.get("error") else "")
        + "</div>")
    run_box.add_class("wb-last-run")
    produced = data.run_volumes(run["run_id"])
    store = data.store_counts()
    labels = dict(words.LABELS, actions="Retention actions recorded (incl. held out)")
    volumes = cards([(labels.get(key, key), number(produced.get(key, 0)))
                     for key in ("scored", "actions", "analysed_feedback", "llm_requests", "audit_events")], "wb-volumes")
    segments = k["segments"]
    kpi_cards = cards([
        ("customers in the store", number(k["customers"])), ("scored in the latest scoring run", number(k["scored"])),
        ("High risk", number(segments["High"])), ("Medium risk", number(segments["Medium"])),
        ("Low risk", number(segments["Low"])),
        ("average churn probability", words.pct(k["avg_churn_probability"]) or "–"),
        ("held out (control group)", number(k["control_group"])),
    ])
    actions = cards([(words.status(s), number(n)) for s, n in k["actions_by_status"].items()] or
                    [("retention actions", "0")], "wb-actions")
    children = [run_box,
                heading("What the last run produced"), volumes,
                explain(f"This run's own output. The store now holds {store.get('customers', 0):,} customers, "
                        f"{store.get('feedback', 0):,} feedback items and {store.get('consent_records', 0):,} consent "
                        "records, from this run and earlier ones."),
                heading("Key figures (latest scores)"), kpi_cards,
                explain(words.MEANS["segments"]), explain(words.MEANS["control"]),
                heading("Retention actions of the latest run, by status"), actions]
    trend = data.trend()
    if (trend["scored"] > 0).any():
        children += [heading("Trend over runs"), image(png(_trend_figure(trend)), "760px"),
                     explain("Bars: customers scored per run by risk segment; line: average churn probability. "
                             "The letter after each run names its input data: runs with different letters read "
                             "different data (a dashed line separates them), so compare their numbers with care.")]
    return W.VBox(children)


def _trend_figure(trend: pd.DataFrame):
    fig = figure(8, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(trend)))
    bottom = [0] * len(trend)
    for seg, col in (("High", "high"), ("Medium", "medium"), ("Low", "low")):
        ax.bar(x, trend[col], bottom=bottom, color=SEGMENT_COLOURS[seg], label=f"{seg} risk", width=0.6)
        bottom = [b + v for b, v in zip(bottom, trend[col])]
    ax.set_ylabel("customers scored")
    ax.set_xticks(x)
    sets = trend["data_set"].tolist() if "data_set" in trend.columns else [None] * len(trend)
    labels = [(f"{pd.Timestamp(t):%m-%d %H:%M}" if pd.notna(t) else str(r)[:12]) + (f" ({d})" if d else "")
              for r, t, d in zip(trend["run_id"], trend["started_at"], sets)]
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=7)
    ax.set_xlabel("run: start time (UTC) and input data")
    for i in range(1, len(sets)):
        if sets[i] != sets[i - 1]:
            ax.axvline(i - 0.5, color="#555", linestyle="--", linewidth=1)
    ax2 = ax.twinx()
    ax2.plot(x, [100 * p if pd.notna(p) else None for p in trend["avg_probability"]], "k.-",
             label="average churn probability")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("average churn probability (%)")
    ax.legend(loc="upper left", fontsize=7)
    return fig


CUSTOMER_COLUMNS = ["customer_id", "segment", "churn_probability", "sentiment_label", "topics", "n_feedback",
                    "action_type", "action_status", "consent_profiling", "consent_external_llm", "consent_marketing"]


def _consent_option(value: str) -> str:
    negate = value.startswith("no ")
    name = value[3:] if negate else value
    plain = {"profiling": "be scored", "external_llm": "have feedback sent to an external AI",
             "marketing": "be contacted"}.get(name, name)
    return ("may not " if negate else "may ") + plain


def _topics(value) -> str:
    return str(value or "").replace("_", " ")


def customers(data: DashboardData, ctx: Context) -> W.Widget:
    opts = data.filter_options()
    segment = dropdown(opts["segment"], "Risk segment", "wb-filter-segment")
    probability = W.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.05, description="Churn probability",
                                     continuous_update=False, readout_format=".0%", style={"description_width": "initial"},
                                     layout=W.Layout(width="380px"))
    probability.add_class("wb-filter-probability")
    sentiment = dropdown(opts["sentiment"], "Feedback mood", "wb-filter-sentiment")
    topic = dropdown(opts["topic"], "Topic", "wb-filter-topic", label=_topics)
    consent = dropdown(opts["consent"], "Consent", "wb-filter-consent", width="330px", label=_consent_option)
    status = dropdown(opts["action_status"], "Action status", "wb-filter-action", width="330px", label=words.status)
    search = W.Text(placeholder="customer id contains…", description="Search", continuous_update=False,
                    layout=W.Layout(width="260px"))
    search.add_class("wb-filter-search")
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
        shown = words.readable(page.rows, CUSTOMER_COLUMNS, {"topics": _topics, "action_type": _topics})
        result.value = table_html(shown, empty="no customer matches these filters")
        count.value = page_text(page.total, state["offset"], len(page.rows), "customers")
        ids = page.rows["customer_id"].tolist()
        pick.options = ids
        pick.value = ids[0] if ids else None
        back.disabled = state["offset"] == 0
        forward.disabled = state["offset"] + len(page.rows) >= page.total

    def move(step):
        state["offset"] = max(0, state["offset"] + step * PAGE_SIZE)
        refresh(reset=False)

    back, forward = pager(move)
    forward.add_class("wb-next")

    def show_detail(*_):
        cid = (typed.value or "").strip() or pick.value
        guarded(detail, lambda: display(customer_detail(data, ctx, cid)))

    for widget in (segment, probability, sentiment, topic, consent, status, search):
        widget.observe(refresh, names="value")
    show.on_click(show_detail)
    typed.observe(show_detail, names="value")
    refresh()
    filters = W.VBox([W.HBox([segment, sentiment, topic]), W.HBox([probability, consent]), W.HBox([status, search])])
    return W.VBox([heading("Filter customers"), filters, W.HBox([count, back, forward]), result,
                   explain("Highest churn probability first, 25 a page. Consent columns show the record in force: "
                           "no record means no consent."),
                   heading("One customer in detail"), W.HBox([pick, typed, show]), detail])


def customer_detail(data: DashboardData, ctx: Context, customer_id: str | None) -> W.Widget:
    """One customer: risk and drivers, anonymized feedback analysis, action, consent, audit trail."""
    if not customer_id:
        return note("Pick a customer from the table or type an id.")
    d = data.customer_detail(customer_id, ctx.refs)
    if d is None:
        return note(f"No customer {customer_id} in this snapshot.")
    probability = d["churn_probability"]
    risk = (f"churn probability <b>{words.pct(probability)}</b>, risk segment "
            f"{badge(d['segment'] != 'High', d['segment'])}"
            if probability is not None else "not scored (no consent to profiling, or not in the latest scoring run)")
    lineage = (f"<div class='wb-muted'>scored by model <code>{html.escape(words.short(d['model_version']))}</code> in run "
               f"<code>{html.escape(str(d['prediction_run']))}</code></div>" if d["model_version"] else "")
    head = W.HTML(f"<div class='wb-h'>Customer <code>{html.escape(d['customer_id'])}</code></div><div>{risk}</div>{lineage}")
    head.add_class("wb-drill-head")
    profile = pd.DataFrame({"attribute": [k for k in d["profile"] if k != "customer_id"],
                            "value": [d["profile"][k] for k in d["profile"] if k != "customer_id"]})
    profile.columns = ["Attribute", "Value"]
    actions = d["actions"]
    made_by = ""
    if len(actions):
        first = actions.iloc[0]
        provider = first["provider"] if first["provider"] not in (None, "local") else "the offline analyzer"
        made_by = (f"Proposed by {provider}"
                   + (f" ({first['model']}, prompt {first['prompt_version']})" if first["model"] else "")
                   + f" in run {first['run_id']}.")
    trail_note = [note(d["audit_trail_note"])] if d["audit_trail_note"] else []
    consent = d["consent"].assign(purpose=d["consent"]["purpose"].map(words.purpose))[["purpose", "decision"]]
    return W.VBox([
        head,
        heading("Why: the attributes that raise this customer's risk most"),
        table(words.readable(d["drivers"]), empty="no drivers recorded"),
        heading("Attributes (names, e-mail addresses and other identifiers are never shown here)"),
        table(profile, empty="no attributes"),
        heading("Feedback, anonymized before it was analysed"),
        table(words.readable(d["feedback"], ["created_at", "channel", "anonymized_text", "summary", "sentiment_label",
                                             "topics"], {"topics": _topics}),
              "wb-drill-feedback", empty="no feedback", max_chars=600,
              wide=(words.LABELS["anonymized_text"], words.LABELS["summary"])),
        heading("Retention action"),
        table(words.readable(actions, ["action_type", "status", "channel", "discount_pct", "message", "created_at"],
                             {"action_type": _topics}),
              "wb-drill-action", empty="no action in the latest action run", max_chars=600,
              wide=(words.LABELS["message"],)),
        *([explain(made_by)] if made_by else []),
        heading("Consent in force, per purpose"), table(words.readable(consent)),
        heading("Audit trail of this customer"), explain(words.MEANS["pseudonym"]), *trail_note,
        table(words.readable(d["audit_trail"], ["ts", "run_id", "stage", "event_type", "status", "details"]),
              "wb-drill-audit", empty="no audit events for this customer", wide=(words.LABELS["details"],)),
    ])


def model(data: DashboardData, ctx: Context) -> W.Widget:
    versions = data.model_versions()
    if versions.empty:
        return note("No model has been registered yet: the train stage has not run.")
    pick = W.Dropdown(options=[(f"{words.short(v)} (run {r}, training data {t or '–'})", v) for v, r, t in
                               zip(versions["model_version"], versions["run_id"], versions["training_data"])],
                      description="Model version", style={"description_width": "initial"}, layout=W.Layout(width="560px"))
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
                          W.HBox([W.VBox([note(name.rsplit(".", 1)[0].replace("_", " ")), image(content, "420px")])
                                  for name, content in images], layout=W.Layout(flex_flow="row wrap"))]
            if importance is not None and len(importance):
                parts += [heading("Which attributes the model relies on most"), image(png(_importance_figure(importance)), "560px")]
            drivers = data.driver_frequency()
            if len(drivers):
                parts += [heading("How often each attribute is among a customer's top risk drivers (latest scores)"),
                          image(png(_drivers_figure(drivers)), "560px")]
            display(W.VBox(parts))
            display(W.HTML("<div class='wb-h'>Model card</div>"))
            display(Markdown(card) if card else note("No model card stored for this version."))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    shown = words.readable(versions, ["model_version", "run_id", "training_data", "algorithm", "n_train", "trained_at",
                                      "roc_auc", "pr_auc", "brier"])
    meanings = [explain(words.MEANS[m]) for m in ("roc_auc", "pr_auc", "brier") if m in versions.columns]
    return W.VBox([heading("Model versions, newest first"), table(shown, "wb-model-versions"), *meanings,
                   explain("Training data A, B, …: models trained on different data; their figures were measured on "
                           "different customers."), pick, out])


def _importance_figure(importance: pd.DataFrame):
    top = importance.head(15).iloc[::-1]
    fig = figure(6, 0.3 * len(top) + 0.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(top["feature"].astype(str).str.replace("_", " "), top["importance"], color="#2c7fb8")
    ax.set_xlabel("importance (share of the model's decisions)")
    return fig


def _drivers_figure(drivers: pd.DataFrame):
    top = drivers.iloc[::-1]
    names = top["feature"].astype(str).str.replace("_", " ")
    fig = figure(6, 0.3 * len(top) + 0.9)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(names, top["customers"], color="#9ecae1", label="among a customer's top drivers")
    ax.barh(names, top["as_top_driver"], color="#3182bd", label="the top driver")
    ax.set_xlabel("customers")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _filter_row(*widgets) -> W.HBox:
    return W.HBox(list(widgets), layout=W.Layout(flex_flow="row wrap"))


def governance(data: DashboardData, ctx: Context) -> W.Widget:
    status = data.audit_status()
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in status["problems"][:10])
    audit_box = W.HTML(
        f"<div class='wb-h'>Audit trail {badge(status['ok'], 'verified' if status['ok'] else 'NOT verified')}</div>"
        f"<div>{html.escape(status['summary'])}</div>"
        f"<div class='wb-muted'>checked when this snapshot was published ({html.escape(words.when(status['published_at']))} "
        "UTC): every event is chained to the one before it, and each run's notebooks, model and stored rows match "
        "their recorded fingerprints</div>"
        + (f"<ul>{problems}</ul>" if problems else ""))
    audit_box.add_class("wb-audit-status")
    coverage = data.consent_coverage()
    runs = data.audit_filter_options()["run_id"]

    anon_run = dropdown(runs, "Run", "wb-anon-run", first=ALL_RUNS, width="360px")
    anon_out = W.Output()

    def anon(*_):
        def body():
            counts = data.anonymization_counts(chosen(anon_run))
            blocks = data.egress_blocks(chosen(anon_run))
            parts: list[W.Widget] = [table(words.readable(counts), empty="no anonymization events")]
            if len(counts):
                fig = figure(5, 0.3 * len(counts) + 0.8)
                ax = fig.add_subplot(1, 1, 1)
                ax.barh([words.entity(e) for e in counts["entity_type"][::-1]], counts["count"][::-1], color="#756bb1")
                ax.set_xlabel("replaced before anything left the machine")
                parts.append(image(png(fig), "460px"))
            parts += [heading(f"Kept home (a token not known to be safe, or a language the rule cannot vet): {len(blocks)}"),
                      table(words.readable(blocks, ["ts", "run_id", "stage", "details"]), empty="no request was kept home",
                            wide=(words.LABELS["details"],))]
            display(W.VBox(parts))
        guarded(anon_out, body)
    anon_run.observe(anon, names="value")
    anon()

    egress_text = W.Text(placeholder="search the requests…", description="Search", continuous_update=False)
    egress_text.add_class("wb-egress-search")
    egress_run = dropdown(runs, "Run", "wb-egress-run", first=ALL_RUNS, width="360px")
    egress_out = W.Output()
    egress_state = {"offset": 0}

    def egress(*_, reset: bool = True):
        if reset:
            egress_state["offset"] = 0

        def body():
            page = data.egress_search(egress_text.value, chosen(egress_run), limit=EGRESS_PAGE_SIZE,
                                      offset=egress_state["offset"])
            egress_back.disabled = egress_state["offset"] == 0
            egress_next.disabled = egress_state["offset"] + len(page.rows) >= page.total
            display(W.HTML(f"<div>{page_text(page.total, egress_state['offset'], len(page.rows), 'request(s)')}, "
                           "newest first. This is exactly what was sent, after anonymization.</div>"))
            display(table(words.readable(page.rows, ["sent_at", "run_id", "stage", "provider", "model", "n_items",
                                                     "outcome", "prompt_tokens", "completion_tokens", "payload"]),
                          "wb-egress-table", empty="nothing left the machine", max_chars=700,
                          wide=(words.LABELS["payload"],)))
        guarded(egress_out, body)

    def egress_move(step):
        egress_state["offset"] = max(0, egress_state["offset"] + step * EGRESS_PAGE_SIZE)
        egress(reset=False)

    egress_back, egress_next = pager(egress_move)
    egress_text.observe(egress, names="value")
    egress_run.observe(egress, names="value")
    egress()

    usage = data.llm_usage()
    total_cost = usage["est_cost_usd"].sum(min_count=1) if len(usage) else None
    log = audit_log(data)
    return W.VBox([
        audit_box,
        heading("Consent per purpose"),
        table(words.readable(coverage, ["purpose", "customers", "granted", "refused_or_withdrawn", "no_record",
                                        "granted_pct"]), "wb-consent"),
        explain("The latest record per customer and purpose decides; a customer with no record has not consented."),
        heading("Personal data replaced before anything was sent, by kind"), anon_run, anon_out,
        heading("What left the machine (requests to an external AI)"), _filter_row(egress_text, egress_run),
        W.HBox([egress_back, egress_next]), egress_out,
        heading("AI usage and estimated cost per run"),
        explain("Cost estimated from list prices; blank where the price is unknown"
                + (f"; total about ${total_cost:,.4f}." if total_cost is not None and pd.notna(total_cost) else ".")),
        table(words.readable(usage, ["run_id", "started_at", "provider", "model", "requests", "items", "not_ok",
                                     "prompt_tokens", "completion_tokens", "avg_latency_ms", "est_cost_usd"]),
              empty="no request was sent to an external AI (offline analyzer)"),
        log,
    ])


def audit_log(data: DashboardData) -> W.Widget:
    """The audit log: a summary of the filtered events by kind, then the events 20 a page, and any
    one event in full."""
    options = data.audit_filter_options()
    f_run = dropdown(options["run_id"], "Run", "wb-audit-run", first=ALL_RUNS, width="360px")
    f_stage = dropdown(options["stage"], "Stage", "wb-audit-stage")
    f_type = dropdown(options["event_type"], "Event", "wb-audit-type", width="420px", label=words.event)
    f_status = dropdown(options["status"], "Status", "wb-audit-status-filter")
    summary_out, page_out, one_out = W.Output(), W.Output(), W.Output()
    summary_out.add_class("wb-audit-summary")
    page_out.add_class("wb-audit-page")
    state = {"offset": 0}
    seq = W.Text(placeholder="event number (#)", description="Show event", continuous_update=False,
                 style={"description_width": "initial"}, layout=W.Layout(width="260px"))
    seq.add_class("wb-audit-seq")

    def filters():
        return chosen(f_run), chosen(f_stage), chosen(f_type), chosen(f_status)

    def render(*_, reset: bool = True):
        if reset:
            state["offset"] = 0

        def summary():
            frame = data.audit_summary(*filters())
            frame.insert(0, "meaning", [words.event(e) for e in frame["event_type"]])
            display(table(words.readable(frame, ["meaning", "event_type", "events", "latest"],
                                         {"event_type": str}).rename(columns={"Event": "Event name"}),
                          "wb-audit-kinds", empty="no events match"))

        def page():
            result = data.audit_page(*filters(), limit=AUDIT_PAGE_SIZE, offset=state["offset"])
            back.disabled = state["offset"] == 0
            forward.disabled = state["offset"] + len(result.rows) >= result.total
            display(W.HTML(f"<div>{page_text(result.total, state['offset'], len(result.rows), 'event(s)')}, newest "
                           "first</div>"))
            display(table(words.readable(result.rows, ["seq", "ts", "run_id", "stage", "event_type", "status",
                                                       "details"]),
                          "wb-audit-table", empty="no events match", wide=(words.LABELS["details"],)))
        guarded(summary_out, summary)
        guarded(page_out, page)

    def move(step):
        state["offset"] = max(0, state["offset"] + step * AUDIT_PAGE_SIZE)
        render(reset=False)

    def show_one(*_):
        def body():
            text = (seq.value or "").strip().lstrip("#")
            if not text:
                return
            event = data.audit_event(int(text)) if text.isdigit() else None
            if event is None:
                display(note(f"No audit event #{text}."))
                return
            display(W.HTML(f"<div><b>#{event['seq']}</b> {html.escape(words.event(event['event_type']))} "
                           f"({html.escape(str(event['event_type']))}), {html.escape(words.when(event['ts']))} UTC</div>"
                           f"<pre class='wb-json'>{html.escape(json.dumps(event, indent=2, default=str))}</pre>"))
        guarded(one_out, body)

    back, forward = pager(move)
    forward.add_class("wb-audit-next")
    for widget in (f_run, f_stage, f_type, f_status):
        widget.observe(render, names="value")
    seq.observe(show_one, names="value")
    render()
    return W.VBox([heading("Audit log"), _filter_row(f_run, f_stage), _filter_row(f_type, f_status),
                   heading("What happened, by kind of event"), summary_out,
                   heading("The events"), W.HBox([back, forward]), page_out,
                   explain("Details are cut to one line; type an event's number to see all of it."), seq, one_out])


def runs(data: DashboardData, ctx: Context) -> W.Widget:
    frame = data.runs()
    pick = W.Dropdown(options=frame["run_id"].tolist(), description="Run", layout=W.Layout(width="420px"))
    pick.add_class("wb-run-pick")
    out = W.Output()

    def render(*_):
        def body():
            notebooks = data.run_notebooks(pick.value)
            manifest = data.run_manifest(pick.value)
            display(table(words.readable(notebooks, ["stage", "status", "started_at", "duration_s", "notebook_path",
                                                     "notebook_sha256", "manifest_sha256_matches", "error"]),
                          "wb-run-notebooks", empty="no stage ran"))
            if manifest:
                head = manifest.get("chain_head", {})
                display(W.HTML(f"<div>Manifest <code>{html.escape(str(pick.value))}/manifest.json</code>, written "
                               f"{html.escape(words.when(manifest.get('written_at')))} UTC: the audit trail ended at "
                               f"event #{head.get('seq')} (hash <code>{html.escape(words.short(head.get('hash', '')))}"
                               f"</code>); {len(manifest.get('artefacts', {}))} file(s) fingerprinted.</div>"))
                artefacts = pd.DataFrame([{"artefact": k.replace(":", ": "), "sha256": v.get("sha256"),
                                           "path": v.get("path")} for k, v in manifest.get("artefacts", {}).items()])
                display(table(words.readable(artefacts, formats={"path": _file_name})))
            else:
                display(note("No manifest for this run (it did not finish, or a stage was run by hand)."))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    shown = words.readable(frame, ["run_id", "status", "started_at", "duration_s", "llm_provider", "stages",
                                   "has_manifest", "error"])
    return W.VBox([heading("Runs, newest first"), table(shown, "wb-runs", wide=(words.LABELS["error"],)),
                   heading("One run's executed notebooks and their fingerprints"),
                   explain("Each stage's notebook is kept as it ran. Its sha256 fingerprint is recorded in the run's "
                           "manifest and in the audit trail: any later change to the file shows here as a mismatch."),
                   pick, out])


def _file_name(value) -> str:
    return "" if value is None else str(value).rsplit("/", 1)[-1]


def effect(data: DashboardData, ctx: Context) -> W.Widget:
    """Did the actions work? Contacted vs held-out churn by offer and segment, with 95% ranges,
    and the Qini curve of the run's risk ranking."""
    runs = data.effect_runs()
    if not runs:
        return W.VBox([heading("Effect of the retention actions"),
                       note("No outcomes yet. Attach observed churn with `run_pipeline.py --outcomes FILE` "
                            "(or, on synthetic data, `--simulate-outcomes RUN_ID`)."), explain(words.MEANS["effect"])])
    pick = W.Dropdown(options=runs, description="Run", layout=W.Layout(width="420px"))
    pick.add_class("wb-effect-run")
    out = W.Output()
    min_control = ctx.settings.min_control

    def render(*_):
        def body():
            parts: list[W.Widget] = [explain(words.MEANS["effect"]),
                                     explain(f"Groups with fewer than {min_control} held-out or contacted customers "
                                             "show \"not enough data\".")]
            for title, dimension in (("Overall", "overall"), ("By retention action", "action_type"),
                                     ("By risk segment", "segment")):
                frame = data.effect_summary(pick.value, dimension, min_control)
                if dimension == "segment":
                    frame = frame.sort_values("group", key=lambda g: g.map(words.segment_key), ignore_index=True)
                shown = words.readable(frame, ["group", "treated", "control", "churn_treated", "churn_control", "effect",
                                               "ci_low", "ci_high", "verdict"], {"group": _topics})
                parts += [heading(title), table(shown, f"wb-effect-{dimension.replace('_', '-')}")]
                if dimension != "overall" and frame["effect"].notna().any():
                    parts.append(image(png(_effect_figure(frame)), "560px"))
            curve = data.effect_qini(pick.value)
            if len(curve):
                parts += [heading("Qini curve: extra customers kept by contacting the riskiest first"),
                          image(png(_qini_figure(curve)), "560px"), explain(words.MEANS["qini"])]
            display(W.VBox(parts))
        guarded(out, body)

    pick.observe(render, names="value")
    render()
    return W.VBox([heading("Effect of the retention actions"), pick, out])


def _effect_figure(frame: pd.DataFrame):
    shown = frame[frame["effect"].notna()].iloc[::-1]
    fig = figure(6, 0.35 * len(shown) + 0.9)
    ax = fig.add_subplot(1, 1, 1)
    y = range(len(shown))
    effect, low, high = (100 * shown[c].to_numpy(dtype=float) for c in ("effect", "ci_low", "ci_high"))
    ax.errorbar(effect, list(y), xerr=[effect - low, high - effect], fmt="o", color="#2c7fb8", capsize=3)
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(list(y))
    ax.set_yticklabels(shown["group"].astype(str).str.replace("_", " "))
    ax.set_xlabel("fewer customers left among the contacted (percentage points), 95% range")
    return fig


def _qini_figure(curve: pd.DataFrame):
    fig = figure(6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for policy, part in curve.groupby("policy"):
        ax.plot(100 * part["fraction"], part["incremental"], ".-", label=policy)
        ax.plot([0, 100], [0, part["incremental"].iloc[-1]], "--", color="#999", label="random choice")
    ax.set_xlabel("customers contacted, highest score first (% of the experiment)")
    ax.set_ylabel("extra customers kept")
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
        published = data.meta.get("published_at")
        audit_ok = data.audit_status()["ok"] if data.meta else None
        self.header.value = (
            "<div class='wb-title'>Churn workbench</div>"
            f"<div class='wb-muted'>data as of {html.escape(words.when(published) + ' UTC' if published else 'never')} "
            f"(published by the latest run) · audit trail "
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
