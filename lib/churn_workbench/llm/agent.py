"""The two entry points the pipeline stages call: analyse feedback, propose retention actions.

Both decide per item *whether* anything may leave the machine (backend, consent, cache), hand
what may to the request engine (engine.py), and fill every other item locally, so the result
always has one row per input with its lineage (provider, model, prompt version) and status.

With a `journal` (llm/journal.py, given by the stages) every request is recorded in llm_egress
before it is sent and every validated answer is cached as it arrives, so a stage interrupted
mid-way resumes where it stopped. Without one (library use, tests) the same rows come back in
the outcome for the caller to store.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import numpy as np
import pandas as pd

from ..anonymize import strip_invisible
from ..cluster import map_partitions
from . import local, prompts, schemas
from .base import ActionOutcome, ActionRequest, AnalysisOutcome, FeedbackItem, Provider
from .base import knob
from .engine import WorkItem, empty_egress
from .partitioned import run_engine
from .guard import text_violations
from .policy import SEGMENTS, load_catalogue, violations
from .progress import Reporter

ANALYSIS_COLUMNS = ["feedback_id", "customer_id", "sentiment", "sentiment_label", "topics", "summary", "status",
                    "provider", "model", "prompt_version", "cache_key", "prompt_tokens", "completion_tokens"]
CACHE_COLUMNS = ["cache_key", "result", "provider", "model", "prompt_version", "created_run_id"]  # table order
ACTION_COLUMNS = ["customer_id", "action_type", "channel", "discount_pct", "message", "offer_id", "status",
                  "provider", "model", "prompt_version"]
_DRIVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.=-]{0,47}$")  # a feature name, not free text


def cache_key(text: str, prompt_version: str, model: str) -> str:
    """Same anonymized text, same prompt, same model => same answer: reuse it across runs."""
    return hashlib.sha256("\x1f".join((text, prompt_version, model)).encode("utf-8")).hexdigest()


def _provider(settings) -> Provider:
    from .registry import get_provider

    return get_provider(settings.llm_provider, settings)


def _reporter(journal, settings, run_id: str, stage: str):
    """Live progress for the runner's terminal (only where a database, hence a runner, exists)."""
    if journal is None or not knob(settings, "llm_progress_file", True):
        return None
    return Reporter(journal.db_path, run_id, stage)


def _analysis_guard(refs: dict, results: dict) -> dict[str, list[str]]:
    """Output guard for one request's analyses: the summary is model-written text."""
    texts = {r: it.payload.get("text", "") for r, it in refs.items()}
    flagged = {}
    for ref, result in results.items():
        others = [t for r, t in texts.items() if r != ref]
        broken = text_violations(result.get("summary"), own_input=texts[ref], other_inputs=others,
                                 max_chars=schemas.SUMMARY_MAX_CHARS)
        if broken:
            flagged[ref] = broken
    return flagged


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut


# ============================================================================ analysis


def analyze_feedback(items: list[FeedbackItem], settings, audit, run_id: str,
                     cache: dict[str, dict], stage: str = "feedback", journal=None) -> AnalysisOutcome:
    """Sentiment, topics and a summary for each feedback item (texts already anonymized).

    Items without external_llm consent, or when the backend is `local`, are analysed offline
    (status `local`). The rest: cached results are reused (`cached`), the others are sent in
    batches (`ok`); residual PII keeps an item home (`blocked`), and any failure falls back to
    the offline analyzer (`fallback`); a result whose text breaks the output guard is replaced by
    the offline analysis (`policy_fallback`). Raises for configuration errors (e.g. a missing
    key, an endpoint that supports no allowed response format) and when more items fell back
    than `llm_fallback_threshold` allows.
    """
    provider = _provider(settings)
    task = schemas.ANALYSIS
    n = len(items)
    status = ["local"] * n
    results: list[dict | None] = [None] * n
    lineage = [(local.LocalProvider.name, local.LOCAL_MODEL, local.LOCAL_VERSION[task])] * n
    keys: list[str | None] = [None] * n
    tokens = [(0, 0)] * n
    stats = Counter()
    egress, new_cache = empty_egress(), pd.DataFrame(columns=CACHE_COLUMNS)

    if provider.external:
        model, version = provider.model_for(task), provider.prompt_version(task)
        limit = knob(settings, "llm_max_text_chars", 1000)
        work: dict[str, WorkItem] = {}
        members: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if not item.external_allowed:
                continue
            text = _truncate(strip_invisible(item.text or "").strip(), limit)
            if not text:
                continue  # nothing to analyse; the offline analyzer labels it neutral
            key = keys[i] = cache_key(text, version, model)
            hit = cache.get(key) if cache else None
            if hit is not None and _valid_cached(hit):
                results[i], status[i] = _from_cache(hit), "cached"
                lineage[i] = (provider.name, model, version)
                stats["cache_hits"] += 1
                continue
            members.setdefault(key, []).append(i)
            if key not in work:
                work[key] = WorkItem(payload={"text": text}, screen_text=text, key=key)
        if journal is not None:
            journal.reconcile(audit)
        if work:
            persist = _persister(journal, provider.name, model, version, run_id)
            keywords = provider.schema_keywords
            # On the run's Dask cluster for many items, partitioned by customer (partitioned.py).
            engine = run_engine([items[members[k][0]].customer_id for k in work], list(work.values()),
                                provider=provider, task=task, model=model, prompt_version=version,
                                system=prompts.analysis_system(version),
                                schema_for=lambda refs, _items: schemas.wire_schema(task, refs=refs, keywords=keywords),
                                validate=_validator(task), settings=settings, audit=audit, run_id=run_id, stage=stage,
                                completion_per_item=60,  # a first guess; learned from `usage` as replies come in
                                guard=_analysis_guard, journal=journal, progress=_reporter(journal, settings, run_id, stage),
                                on_ok=persist)
            fresh = []
            for key, it in work.items():
                for rank, i in enumerate(members[key]):
                    status[i] = {"ok": "ok", "blocked": "blocked", "violation": "policy_fallback"}.get(it.status,
                                                                                                     "fallback")
                    if it.status == "ok":
                        results[i] = _normalise(it.result)
                        lineage[i] = (provider.name, model, version)
                    # A duplicate text was sent once: its tokens are counted on the first row only.
                    tokens[i] = (it.prompt_tokens, it.completion_tokens) if rank == 0 else (0, 0)
                if it.status == "ok":
                    fresh.append(_cache_row(key, it.result, provider.name, model, version, run_id))
            new_cache = pd.DataFrame(fresh, columns=CACHE_COLUMNS)
            egress = engine.egress()
            dict.update(stats, engine.stats)  # overwrite, not add: engine stats hold flags and reasons too
        stats["sent_items"] = len(work)

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
    stats["local"] = status.count("local")
    stats["blocked"] = status.count("blocked")
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
    return AnalysisOutcome(rows=rows, egress=egress, new_cache=new_cache, stats=_plain(stats))


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


def _context(request: ActionRequest) -> dict:
    """Coarse, non-identifying context: all an action request may carry (minimisation)."""
    segment = request.segment if request.segment in SEGMENTS else "Low"
    drivers = [d for d in (str(x) for x in (request.drivers or [])) if _DRIVER_NAME.match(d)][:3]
    topics = [t for t in schemas.TOPICS if t in set(request.topics or [])]
    label = request.sentiment_label if request.sentiment_label in schemas.SENTIMENT_LABELS else "unknown"
    return {"segment": segment, "risk": prompts.risk_band(request.churn_probability), "drivers": drivers,
            "topics": topics, "sentiment": label}


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
    provider = _provider(settings)
    catalogue = load_catalogue()
    task = schemas.ACTION
    n = len(requests)
    local_lineage = (local.LocalProvider.name, local.LOCAL_MODEL, local.LOCAL_VERSION[task])
    actions: list[dict | None] = [None] * n
    status = ["ok"] * n
    lineage = [local_lineage] * n
    stats = Counter()
    egress = empty_egress()
    contexts = [_context(r) for r in requests]

    if provider.external:
        model, version = provider.model_for(task), provider.prompt_version(task)
        work: dict[str, WorkItem] = {}
        members: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            if not request.external_allowed:
                continue
            key = prompts.json_compact(contexts[i])
            members.setdefault(key, []).append(i)
            if key not in work:
                work[key] = WorkItem(payload=contexts[i], screen_text=key,
                                     key=cache_key(key + "\x1f" + catalogue.version, version, model))
        choices: dict[str, dict] = {}
        if journal is not None:
            journal.reconcile(audit)
            hits = journal.cached([it.key for it in work.values()])
            for key, it in list(work.items()):
                if it.key in hits:
                    try:
                        choices[key] = json.loads(hits[it.key])
                    except ValueError:
                        continue
                    stats["cache_hits"] += 1
        todo = {k: it for k, it in work.items() if k not in choices}
        if todo:
            persist = _persister(journal, provider.name, model, version, run_id)
            keywords = provider.schema_keywords
            offer_ids, channels = tuple(catalogue.offers), catalogue.channels

            def schema_for(refs, payloads):
                # Only offers some customer of this request may get (exact for one-item requests).
                segments = {p.get("segment") for p in payloads} or set(SEGMENTS)
                offers = [o for o in catalogue.offers.values() if segments & set(o.segments)]
                return schemas.wire_schema(task, offers, refs=refs, keywords=keywords)

            engine = run_engine([requests[members[k][0]].customer_id for k in todo], list(todo.values()),
                                provider=provider, task=task, model=model, prompt_version=version,
                                system=prompts.action_system(catalogue, version),
                                schema_for=schema_for,
                                validate=_validator(task, offer_ids, channels),
                                settings=settings, audit=audit, run_id=run_id, stage=stage, completion_per_item=30,
                                journal=journal, progress=_reporter(journal, settings, run_id, stage), on_ok=persist)
            for key, it in todo.items():
                if it.status == "ok":
                    choices[key] = it.result
            egress = engine.egress()
            dict.update(stats, engine.stats)
        for key, it in work.items():
            chosen, row_status, row_lineage = _checked_action(choices.get(key), contexts[members[key][0]]["segment"],
                                                              len(members[key]), catalogue, audit, stats,
                                                              (provider.name, model, version), local_lineage)
            for i in members[key]:
                actions[i] = dict(chosen) if chosen else None
                status[i], lineage[i] = row_status, row_lineage
        stats["sent_items"] = len(todo)

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
    return ActionOutcome(rows=rows, egress=egress, stats=_plain(stats))


def _persister(journal, provider_name: str, model: str, version: str, run_id: str):
    """What the engine calls as answers arrive: cache them durably, so an interrupted stage resumes there."""
    def persist(done: list[WorkItem]) -> None:
        if journal is not None:
            journal.cache(pd.DataFrame([_cache_row(it.key, it.result, provider_name, model, version, run_id)
                                        for it in done], columns=CACHE_COLUMNS))
    return persist
