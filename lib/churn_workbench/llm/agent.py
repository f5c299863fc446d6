"""The two entry points the pipeline stages call: analyse feedback, propose retention actions.

Both follow one outline (`_ask_model`): decide per item *whether* anything may leave the
machine (backend, consent, cache), hand what may to the request engine (engine.py), and fill
every other item locally, so the result always has one row per input with its lineage
(provider, model, prompt version) and status. What differs between the two tasks -- which items
go, what they carry, the prompt, schema, validation and guard -- is a `TaskSpec`.

With a `journal` (llm/journal.py, given by the stages) every request is recorded in llm_egress
before it is sent and every validated answer is cached as it arrives, so a stage interrupted
mid-way resumes where it stopped. Without one (library use, tests) the same rows come back in
the outcome for the caller to store.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .. import db
from ..anonymize import strip_invisible
from ..cluster import map_partitions
from ..egress.output import CopyIndex
from ..egress.output import violations as output_violations
from . import local, prompts, schemas
from .context import action_context
from .base import ActionOutcome, ActionRequest, AnalysisOutcome, FeedbackItem, Provider
from .engine import WorkItem, empty_egress
from .partitioned import run_engine
from .guard import text_violations
from .policy import SEGMENTS, load_catalogue, parse_catalogue, violations
from .progress import Reporter
from .registry import get_provider

ANALYSIS_COLUMNS = ["feedback_id", "customer_id", "sentiment", "sentiment_label", "topics", "summary", "status",
                    "provider", "model", "prompt_version", "cache_key", "prompt_tokens", "completion_tokens"]
CACHE_COLUMNS = db.columns("analysis_cache")
ACTION_COLUMNS = ["customer_id", "action_type", "channel", "discount_pct", "message", "offer_id", "status",
                  "provider", "model", "prompt_version"]


def cache_key(text: str, prompt_version: str, model: str) -> str:
    """Same anonymized text, same prompt, same model => same answer: reuse it across runs."""
    return hashlib.sha256("\x1f".join((text, prompt_version, model)).encode("utf-8")).hexdigest()


def _provider(settings) -> Provider:
    return get_provider(settings.llm_provider, settings)


def _reporter(journal, settings, run_id: str, stage: str):
    """Live progress for the runner's terminal (only where a database, hence a runner, exists)."""
    if journal is None or not settings.llm_progress_file:
        return None
    return Reporter(journal.db_path, run_id, stage)


def _analysis_guard(copies: CopyIndex | None = None):
    """Output guard for one request's analyses: the summary is model-written text. It must pass
    the output guard (guard.py) and the allow rule (egress/output.py), and copy no other item of
    the stage (`copies`: every sent item's text, by cache key)."""
    def guard(refs: dict, results: dict) -> dict[str, list[str]]:
        texts = {r: it.payload.get("text", "") for r, it in refs.items()}
        flagged = {}
        for ref, result in results.items():
            others = [t for r, t in texts.items() if r != ref]
            summary = result.get("summary")
            broken = text_violations(summary, own_input=texts[ref], other_inputs=others,
                                     max_chars=schemas.SUMMARY_MAX_CHARS)
            if isinstance(summary, str):
                broken += output_violations(summary, texts[ref])
                if copies is not None and copies.copies_other(summary, refs[ref].key):
                    broken.append("cross_item")
            if broken:
                flagged[ref] = sorted(set(broken))
        return flagged
    return guard


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut


# ============================================================================ the shared outline


@dataclass
class TaskSpec:
    """What one task needs from the outline; everything else about sending is shared.

    select(provider, model, prompt_version, journal) -> (work, members, known): per key (what
    identical inputs share), the item to send, the input rows it stands for, and any answer
    already cached (that key is then not sent).
    """

    task: str                    # schemas.ANALYSIS or schemas.ACTION
    select: Callable[[Provider, str, str, object], tuple[dict[str, WorkItem], dict[str, list[int]], dict[str, dict]]]
    system: Callable[[str], str]  # prompt version -> system prompt
    schema_for: Callable[[list[str] | None, list[dict], str], dict]  # (refs, payloads, schema keywords) -> schema
    validate: Callable[[object], tuple[dict, int]]
    completion_per_item: int     # a first guess of answer tokens per item; learned from `usage`
    owner: Callable[[int], str]  # input row -> its customer id (what partitions the sends on the run's cluster)
    guard: Callable[[dict, dict], dict] | None = None


@dataclass
class Answers:
    """What the model was asked and what came back, by key (see TaskSpec.select)."""

    provider: Provider
    model: str | None = None
    version: str | None = None
    members: dict[str, list[int]] | None = None  # key -> input rows sharing it
    known: dict[str, dict] | None = None         # key -> answer from a cache (not sent)
    sent: dict[str, WorkItem] | None = None      # key -> the item sent (status, result, tokens)
    egress: pd.DataFrame | None = None
    stats: Counter | None = None


def _ask_model(spec: TaskSpec, settings, audit, run_id: str, stage: str, journal) -> Answers:
    """The outline both tasks share: select, then send what is neither local nor cached."""
    provider = _provider(settings)
    if not provider.external:
        return Answers(provider, members={}, known={}, sent={}, egress=empty_egress(), stats=Counter())
    model, version = provider.model_for(spec.task), provider.prompt_version(spec.task)
    if journal is not None:
        journal.reconcile(audit)  # a crashed attempt's requests first: they stay recorded as interrupted
    work, members, known = spec.select(provider, model, version, journal)
    todo = {k: it for k, it in work.items() if k not in known}
    stats, egress = Counter(), empty_egress()
    if todo:
        keywords, schema_for = provider.schema_keywords, spec.schema_for  # not `spec`: its select holds every input
        # On the run's Dask cluster for many items, partitioned by customer (partitioned.py);
        # each worker's engine gates, records (through this kernel's journal) and sends its share.
        engine = run_engine([spec.owner(members[k][0]) for k in todo], list(todo.values()),
                            provider=provider, task=spec.task, model=model, prompt_version=version,
                            system=spec.system(version),
                            schema_for=lambda refs, payloads: schema_for(refs, payloads, keywords),
                            validate=spec.validate, settings=settings, audit=audit, run_id=run_id, stage=stage,
                            completion_per_item=spec.completion_per_item, guard=spec.guard, journal=journal,
                            progress=_reporter(journal, settings, run_id, stage),
                            on_ok=_persister(journal, provider.name, model, version, run_id))
        egress = engine.egress()
        dict.update(stats, engine.stats)  # overwrite, not add: engine stats hold flags and reasons too
    stats["sent_items"] = len(todo)
    return Answers(provider, model, version, members, known, todo, egress, stats)


# ============================================================================ analysis


def analyze_feedback(items: list[FeedbackItem], settings, audit, run_id: str,
                     cache: dict[str, dict], stage: str = "feedback", journal=None) -> AnalysisOutcome:
    """Sentiment, topics and a summary for each feedback item (texts already anonymized).

    Items without external_llm consent, or when the backend is `local`, are analysed offline
    (status `local`). A text mainly in a language the allow rule cannot vet
    (egress/languages.py) stays home and is analysed offline too (`blocked`, audited with the
    language). The rest: cached results are reused (`cached`), the others are sent in
    batches (`ok`); residual PII keeps an item home (`blocked`), and any failure falls back to
    the offline analyzer (`fallback`); a result whose text breaks the output guard is replaced by
    the offline analysis (`policy_fallback`). Raises for configuration errors (e.g. a missing
    key, an endpoint that supports no allowed response format) and when more items fell back
    than `llm_fallback_threshold` allows.
    """
    task = schemas.ANALYSIS

    copies: dict[str, CopyIndex] = {}  # the stage's sent texts, for the cross-item copy check
    unvetted: dict[int, str] = {}  # input row -> the language that keeps its text home

    def select(provider, model, version, _journal):
        work: dict[str, WorkItem] = {}
        members: dict[str, list[int]] = {}
        known: dict[str, dict] = {}
        refused = Counter()
        for i, item in enumerate(items):
            if not item.external_allowed:
                continue
            text = _truncate(strip_invisible(item.text or "").strip(), settings.llm_max_text_chars)
            if not text:
                continue  # nothing to analyse; the offline analyzer labels it neutral
            if item.unvetted_language:
                unvetted[i] = item.unvetted_language  # never sent, never answered from the cache either
                continue
            key = cache_key(text, version, model)
            members.setdefault(key, []).append(i)
            if key in work or key in known:
                continue
            hit = cache.get(key) if cache else None
            if hit is not None and _valid_cached(hit) and _cached_refused(hit, text, refused):
                hit = None  # stored by an older rule: never reused, the text is analysed again
            if hit is not None and _valid_cached(hit):
                known[key] = _from_cache(hit)
            else:
                work[key] = WorkItem(payload={"text": text}, screen_text=text, key=key)
        for language, n_items in sorted(Counter(unvetted.values()).items()):
            audit.event("egress_blocked", "blocked", scope="text", task=task, reason=f"language not vetted: {language}",
                        n_items=n_items)
        if refused["cache_refused"]:
            audit.event("llm_cache_refused", "policy_fallback", task=task, n_items=int(refused["cache_refused"]),
                        rule="not_allowed")
        copies["index"] = CopyIndex({k: it.payload["text"] for k, it in work.items()})
        return work, members, known

    def guard(refs: dict, results: dict) -> dict[str, list[str]]:
        return _analysis_guard(copies.get("index"))(refs, results)

    answers = _ask_model(TaskSpec(
        task=task, select=select, system=prompts.analysis_system,
        schema_for=lambda refs, _payloads, keywords: schemas.wire_schema(task, refs=refs, keywords=keywords),
        validate=_validator(task), completion_per_item=60, owner=lambda i: items[i].customer_id, guard=guard), settings, audit, run_id, stage,
        journal)

    n = len(items)
    status = ["local"] * n
    results: list[dict | None] = [None] * n
    lineage = [(local.LocalProvider.name, local.LOCAL_MODEL, local.LOCAL_VERSION[task])] * n
    keys: list[str | None] = [None] * n
    tokens = [(0, 0)] * n
    stats = answers.stats
    remote = (answers.provider.name, answers.model, answers.version)
    fresh = []
    for key, rows in answers.members.items():
        it = answers.sent.get(key)
        for rank, i in enumerate(rows):
            keys[i] = key
            if key in answers.known:
                results[i], status[i], lineage[i] = answers.known[key], "cached", remote
                stats["cache_hits"] += 1
                continue
            status[i] = {"ok": "ok", "blocked": "blocked", "violation": "policy_fallback"}.get(it.status, "fallback")
            if it.status == "ok":
                results[i], lineage[i] = _normalise(it.result), remote
            # A duplicate text was sent once: its tokens are counted on the first row only.
            tokens[i] = (it.prompt_tokens, it.completion_tokens) if rank == 0 else (0, 0)
        if it is not None and it.status == "ok":
            fresh.append(_cache_row(key, it.result, *remote, run_id))
    new_cache = pd.DataFrame(fresh, columns=CACHE_COLUMNS)

    # Every other item: the offline analyzer, in one vectorised call (this is the bulk path).
    todo = [i for i in range(n) if results[i] is None]
    offline = local.analyze_texts([items[i].text for i in todo], settings) if todo else None
    sentiment = np.zeros(n)
    label = np.empty(n, dtype=object)
    topics = np.empty(n, dtype=object)
    summary = np.empty(n, dtype=object)
    if todo:
        idx = np.asarray(todo)
        sentiment[idx] = offline["sentiment"].to_numpy(dtype=float)
        label[idx] = offline["sentiment_label"].to_numpy()
        topics[idx] = _topics_json(offline["topics"])
        summary[idx] = offline["summary"].to_numpy()
    done = [i for i in range(n) if results[i] is not None]
    for i in done:
        r = results[i]
        sentiment[i], label[i], summary[i] = float(r["sentiment"]), r["label"], r["summary"]
    if done:
        topics[np.asarray(done)] = _topics_json([results[i]["topics"] for i in done])
    for i in unvetted:
        status[i] = "blocked"
    stats["local"] = status.count("local")
    stats["blocked"] = status.count("blocked")
    stats["language_not_vetted"] = len(unvetted)
    if unvetted:
        stats["languages_not_vetted"] = ", ".join(sorted(set(unvetted.values())))
    stats["fallbacks"] = status.count("fallback")
    stats["policy_fallbacks"] = status.count("policy_fallback")
    stats["tokens"] = stats.get("tokens", 0)
    rows = pd.DataFrame({
        "feedback_id": [it.feedback_id for it in items],
        "customer_id": [it.customer_id for it in items],
        "sentiment": sentiment, "sentiment_label": label, "topics": topics, "summary": summary,
        "status": status,
        "provider": [p for p, _, _ in lineage], "model": [m for _, m, _ in lineage],
        "prompt_version": [v for _, _, v in lineage],
        "cache_key": keys,
        "prompt_tokens": [p for p, _ in tokens], "completion_tokens": [c for _, c in tokens],
    }, columns=ANALYSIS_COLUMNS)
    return AnalysisOutcome(rows=rows, egress=answers.egress, new_cache=new_cache, stats=_plain(stats))


def _cache_row(key, result, provider, model, version, run_id) -> dict:
    return {"cache_key": key, "result": json.dumps(_normalise(result) if "label" in result else result,
                                                   sort_keys=True),
            "provider": provider, "model": model, "prompt_version": version, "created_run_id": run_id}


def _topics_json(topic_lists) -> list[str]:
    """JSON text per topic list; few distinct lists exist, so each is serialised once."""
    memo: dict[tuple, str] = {}
    out = []
    for t in topic_lists:
        key = tuple(t)
        if key not in memo:
            memo[key] = json.dumps(list(key))
        out.append(memo[key])
    return out


def _validator(task: str, offer_ids=(), channels=()):
    def validate(content):
        return schemas.split_results(task, content, offer_ids, channels)
    return validate


def _normalise(result: dict) -> dict:
    """An LLM result in stored form: label from the schema, unique topics in taxonomy order."""
    topics = set(result.get("topics") or [])
    return {"sentiment": round(float(result["sentiment"]), 4), "label": result["label"],
            "topics": [t for t in schemas.TOPICS if t in topics], "summary": str(result["summary"]).strip()}


def _valid_cached(hit) -> bool:
    """A cache entry is used only if it still has the stored shape (plain checks: this runs per hit)."""
    try:
        r = _from_cache(hit)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    score = r["sentiment"]
    return (isinstance(score, (int, float)) and not isinstance(score, bool) and -1 <= score <= 1
            and r["label"] in schemas.SENTIMENT_LABELS and all(t in schemas.TOPICS for t in r["topics"])
            and isinstance(r["summary"], str) and len(r["summary"]) <= schemas.SUMMARY_MAX_CHARS)


def _cached_refused(hit, text: str, stats: Counter) -> bool:
    """A cached answer whose summary the allow rule refuses today (cached before it existed)."""
    if not output_violations(_from_cache(hit)["summary"], text):
        return False
    stats["cache_refused"] += 1
    return True


def _from_cache(hit) -> dict:
    """Cache values are result dicts; an analysis_cache row (with a JSON `result`) also works."""
    if isinstance(hit, dict) and "result" in hit and "label" not in hit:
        hit = json.loads(hit["result"]) if isinstance(hit["result"], str) else hit["result"]
    return {"sentiment": hit["sentiment"], "label": hit["label"], "topics": list(hit["topics"]),
            "summary": hit["summary"]}


def _plain(stats: Counter) -> dict:
    return {k: (v if isinstance(v, (bool, str, type(None))) else float(v) if isinstance(v, float) else int(v))
            for k, v in stats.items()}


# ============================================================================ actions


def _checked_action(choice: dict | None, segment: str, n_customers: int, catalogue, audit, stats, remote_lineage,
                    local_lineage) -> tuple[dict | None, str, tuple]:
    """(action, status, lineage) for one sent context: the model's choice in the catalogue's own
    wording if it passes the policy, else the segment's fallback offer; None (local choice) if no
    choice came back."""
    if choice is None:
        return None, "fallback", local_lineage
    offer = catalogue.offers.get(choice.get("offer_id"))
    discount = choice.get("discount_pct")
    proposal = {"offer_id": choice.get("offer_id"), "channel": choice.get("channel"), "discount_pct": discount}
    if offer is not None:
        number = isinstance(discount, (int, float)) and not isinstance(discount, bool)
        proposal.update(action_type=offer.action_type,
                        message=offer.message(discount if number and 0 <= discount <= offer.max_discount_pct
                                              else offer.default_discount_pct))
    broken = violations(proposal, segment, catalogue)
    if broken:
        stats["policy_violations"] += 1
        # One event per distinct context (n_customers share it), with all its rules.
        audit.event("action_policy_violation", "policy_fallback", rules=broken,
                    offer_known=offer is not None, segment=segment,
                    n_customers=n_customers, provider=remote_lineage[0], model=remote_lineage[1])
        return catalogue.fallback_for(segment).catalogue_action(), "policy_fallback", local_lineage
    proposal["discount_pct"] = float(discount)
    return proposal, "ok", remote_lineage


def propose_actions(requests: list[ActionRequest], settings, audit, run_id: str, stage: str = "act",
                    journal=None) -> ActionOutcome:
    """One retention action per request, always from the offer catalogue.

    Local backend or no external_llm consent: the catalogue action chosen by segment and topics
    (status `ok`, provider `local`). Otherwise the LLM *chooses* an offer, a channel and a
    discount (enums and limits in the schema); the message is the catalogue's wording for that
    choice. A choice that breaks the policy becomes the segment's fallback offer
    (`policy_fallback`); failures use the local choice (`fallback`). Identical contexts are sent
    once; with a journal, choices are cached as they arrive (a resumed stage does not resend).
    """
    # The policy check of the catalogue loads the output guard's detectors: only when there is
    # something to propose (an unchanged nightly run proposes nothing).
    catalogue = load_catalogue() if requests else parse_catalogue()
    task = schemas.ACTION
    contexts = [action_context(r) for r in requests]

    def select(provider, model, version, journal):
        work: dict[str, WorkItem] = {}
        members: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            if not request.external_allowed:
                continue
            key = prompts.json_compact(contexts[i])
            members.setdefault(key, []).append(i)
            if key not in work:
                # Driver names are the data's own column names, not anything a customer wrote.
                work[key] = WorkItem(payload=contexts[i], screen_text=key, trusted=tuple(contexts[i]["drivers"]),
                                     key=cache_key(key + "\x1f" + catalogue.version, version, model))
        known: dict[str, dict] = {}
        if journal is not None:
            hits = journal.cached([it.key for it in work.values()])
            for key, it in work.items():
                if it.key in hits:
                    try:
                        known[key] = json.loads(hits[it.key])
                    except ValueError:
                        continue
        return work, members, known

    def schema_for(refs, payloads, keywords):
        # Only offers some customer of this request may get (exact for one-item requests).
        segments = {p.get("segment") for p in payloads} or set(SEGMENTS)
        offers = [o for o in catalogue.offers.values() if segments & set(o.segments)]
        return schemas.wire_schema(task, offers, refs=refs, keywords=keywords)

    answers = _ask_model(TaskSpec(
        task=task, select=select, system=lambda version: prompts.action_system(catalogue, version),
        schema_for=schema_for, validate=_validator(task, tuple(catalogue.offers), catalogue.channels),
        completion_per_item=30, owner=lambda i: requests[i].customer_id), settings, audit, run_id, stage, journal)

    n = len(requests)
    local_lineage = (local.LocalProvider.name, local.LOCAL_MODEL, local.LOCAL_VERSION[task])
    actions: list[dict | None] = [None] * n
    status = ["ok"] * n
    lineage = [local_lineage] * n
    stats = answers.stats
    if answers.known:
        stats["cache_hits"] += len(answers.known)
    remote = (answers.provider.name, answers.model, answers.version)
    for key, rows in answers.members.items():
        sent = answers.sent.get(key)
        choice = answers.known.get(key) or (sent.result if sent is not None and sent.status == "ok" else None)
        chosen, row_status, row_lineage = _checked_action(choice, contexts[rows[0]]["segment"], len(rows), catalogue,
                                                          audit, stats, remote, local_lineage)
        for i in rows:
            actions[i] = dict(chosen) if chosen else None
            status[i], lineage[i] = row_status, row_lineage

    # The catalogue's choice for the rest, partitioned by customer on the run's cluster when many.
    rest = [i for i in range(n) if actions[i] is None]
    chosen = map_partitions(local.catalogue_choices,
                            [(contexts[i]["segment"], contexts[i]["topics"], contexts[i]["drivers"]) for i in rest],
                            [requests[i].customer_id for i in rest], settings, catalogue)
    for i, action in zip(rest, chosen):
        actions[i] = action
    stats["local"] = sum(1 for (p, _, _), s in zip(lineage, status) if p == "local" and s == "ok")
    stats["fallbacks"] = status.count("fallback")
    stats["policy_fallbacks"] = status.count("policy_fallback")
    stats["tokens"] = stats.get("tokens", 0)
    rows = pd.DataFrame({
        "customer_id": [r.customer_id for r in requests],
        "action_type": [a["action_type"] for a in actions],
        "channel": [a["channel"] for a in actions],
        "discount_pct": [float(a["discount_pct"]) for a in actions],
        "message": [a["message"] for a in actions],
        "offer_id": [a["offer_id"] for a in actions],
        "status": status,
        "provider": [p for p, _, _ in lineage], "model": [m for _, m, _ in lineage],
        "prompt_version": [v for _, _, v in lineage],
    }, columns=ACTION_COLUMNS)
    return ActionOutcome(rows=rows, egress=answers.egress, stats=_plain(stats))


def _persister(journal, provider_name: str, model: str, version: str, run_id: str):
    """What the engine calls as answers arrive: cache them durably, so an interrupted stage resumes there."""
    def persist(done: list[WorkItem]) -> None:
        if journal is not None:
            journal.cache(pd.DataFrame([_cache_row(it.key, it.result, provider_name, model, version, run_id)
                                        for it in done], columns=CACHE_COLUMNS))
    return persist
