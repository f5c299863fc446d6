#!/usr/bin/env python
"""`make bench-llm`: the LLM layer against a rate-limited fake server, plus the offline analyzer.

The fake server (tests/fake_llm_server.py) speaks the real chat-completions protocol to the real
groq SDK and enforces its own sliding-window limits. Time is scaled down: the server and the
client count a "minute" of `--window` seconds (default 6 s, i.e. 10x faster than real time), so
60 RPM / 12000 TPM become 60 requests / 12000 tokens per 6 s. Every figure below is in limit
units (tokens per scaled minute), so it reads the same as a real run at 60 RPM / 12000 TPM.

Reported, for feedback analysis and for actions:
  tokens per customer, requests per customer, achieved tokens/minute as a fraction of the TPM
  limit (over the whole run, and against the most the limit could have allowed), the most
  tokens the server accepted in any window (must be <= the limit), 429s the server had to send,
  and customers lost (no row, or no usable result: must be 0).
Also: offline analyzer throughput (texts/s, all texts distinct). Results: bench/results/llm.json.

    python bench/llm_bench.py                     # about 2.5 minutes
    python bench/llm_bench.py --feedback 600 --customers 200 --local-texts 5000   # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_llm_server import FakeLLMServer  # noqa: E402

from churn_workbench.audit import AuditLog  # noqa: E402
from churn_workbench.config import load_settings  # noqa: E402
from churn_workbench.llm import ActionRequest, FeedbackItem, analyze_feedback, local, propose_actions, schemas  # noqa: E402

RESULTS = ROOT / "bench" / "results"

_OPENERS = ["I have been a customer for {n} years and", "Honestly,", "Third time writing:", "Quick note:",
            "After the last update", "Since {month}", "My partner and I think", "To be fair,"]
_COMPLAINTS = ["the signal drops every evening in my street", "my bill was higher than the plan price again",
               "support kept me on hold for {n} minutes", "the mobile data is painfully slow on the train",
               "I was charged twice for roaming", "the app logs me out every day",
               "the contract renewal price is far above what new customers pay",
               "a competitor offers double the data for less", "nobody answered my complaint about the outage"]
_ENDINGS = ["Please fix this or I will cancel.", "Otherwise the service is fine.", "Thanks to the agent who helped.",
            "I am seriously thinking about leaving.", "Not happy at all.", "Great network otherwise, thank you!",
            "Can someone call me back?", "This is the {ord} time I report it."]
_MONTHS = ["January", "March", "June", "September", "November"]


def synthetic_texts(n: int, seed: int) -> list[str]:
    """Distinct, realistic-length (~150 chars) anonymized feedback texts."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        parts = [rng.choice(_OPENERS), rng.choice(_COMPLAINTS)]
        if rng.random() < 0.4:
            parts += ["and", rng.choice(_COMPLAINTS)]
        text = " ".join(parts) + ". " + rng.choice(_ENDINGS)
        texts.append(text.format(n=rng.randint(2, 45), month=rng.choice(_MONTHS), ord=rng.choice(["second", "fifth"]))
                     + f" (ticket {i})")
    return texts


def utilisation(server: FakeLLMServer, tpm: int, window: float, started: float, finished: float) -> dict:
    """Tokens per (scaled) minute against the limit, two ways:

    overall: tokens / elapsed minutes. A sliding-window limit lets a run burst one window's
        worth at the start, so a short run can show slightly more than 100%;
    of_allowance: tokens / the most the limit could have allowed in that time, TPM x
        (elapsed minutes + 1). Never above 100%; a lower bound, close to overall on long runs.
    """
    tokens = sum(n for _, n in server.token_log)
    minutes = max(finished - started, 1e-9) / window
    return {
        "elapsed_s": round(finished - started, 2),
        "scaled_minutes": round(minutes, 2),
        "server_tokens": tokens,
        "tokens_per_minute": round(tokens / minutes),
        "tpm_fraction_overall": round(tokens / minutes / tpm, 3),
        "tpm_fraction_of_allowance": round(tokens / (tpm * (minutes + 1)), 3),
        "max_tokens_in_any_window": server.max_tokens_in_window(),
        "server_429s": int(server.served.get("limit", 0)),
    }


def run_analysis(server, settings, n: int, seed: int) -> dict:
    texts = synthetic_texts(n, seed)
    items = [FeedbackItem(f"fb{i}", f"cust{i}", t, True) for i, t in enumerate(texts)]
    server.reset()
    audit = AuditLog("bench", "feedback")
    started = time.monotonic()
    out = analyze_feedback(items, settings, audit, "bench", {})
    finished = time.monotonic()
    rows = out.rows
    lost = n - rows["feedback_id"].nunique() + int(rows["sentiment_label"].isna().sum()) \
        + int((~rows["status"].isin(["ok", "cached", "fallback", "blocked", "local"])).sum())
    tokens = int(rows["prompt_tokens"].sum() + rows["completion_tokens"].sum())
    return {
        "customers": n,
        "tokens_per_customer": round(tokens / n, 1),
        "prompt_tokens_per_customer": round(rows["prompt_tokens"].sum() / n, 1),
        "completion_tokens_per_customer": round(rows["completion_tokens"].sum() / n, 1),
        "requests": int(out.stats.get("requests", 0)),
        "requests_per_customer": round(out.stats.get("requests", 0) / n, 3),
        "status": rows["status"].value_counts().to_dict(),
        "retries": int(out.stats.get("retries", 0)),
        "customers_lost": int(lost),
        **utilisation(server, settings.llm_tokens_per_minute, settings.llm_rate_window_s, started, finished),
    }


def run_actions(server, settings, n: int, seed: int) -> dict:
    rng = random.Random(seed)
    drivers = ["days_since_last_activity", "complaints_90d", "monthly_charges", "tenure_months", "dropped_calls_30d",
               "late_payments_12m", "contract_months_left", "data_usage_trend"]
    requests = [ActionRequest(f"cust{i}", rng.choice(["High", "Medium"]), rng.uniform(0.3, 1.0),
                              rng.sample(drivers, 3), rng.sample(schemas.TOPICS, rng.randint(0, 3)),
                              rng.choice(["negative", "neutral", "positive", None]), True) for i in range(n)]
    server.reset()
    audit = AuditLog("bench", "act")
    started = time.monotonic()
    out = propose_actions(requests, settings, audit, "bench")
    finished = time.monotonic()
    rows = out.rows
    lost = n - rows["customer_id"].nunique() + int(rows["offer_id"].isna().sum())
    return {
        "customers": n,
        "distinct_contexts_sent": int(out.stats.get("sent_items", 0)),
        "tokens_per_customer": round(out.stats.get("tokens", 0) / n, 1),
        "tokens_per_context": round(out.stats.get("tokens", 0) / max(1, out.stats.get("sent_items", 1)), 1),
        "requests": int(out.stats.get("requests", 0)),
        "requests_per_customer": round(out.stats.get("requests", 0) / n, 3),
        "status": rows["status"].value_counts().to_dict(),
        "customers_lost": int(lost),
        **utilisation(server, settings.llm_tokens_per_minute, settings.llm_rate_window_s, started, finished),
    }


def local_throughput(n: int, seed: int) -> dict:
    """Wall-clock texts/s of analyze_texts in one process, and the rate per CPU-second, which
    other load on the machine does not distort."""
    texts = synthetic_texts(n, seed)
    local.analyze_texts(texts[:50])  # load the lexicon outside the timing
    started = time.perf_counter()
    local.analyze_texts(texts)
    elapsed = time.perf_counter() - started
    sample = texts[: min(n, 10_000)]
    cpu = time.process_time()
    local.analyze_chunk(sample)
    per_cpu_s = len(sample) / max(time.process_time() - cpu, 1e-9)
    return {"texts": n, "distinct": len(set(texts)), "seconds": round(elapsed, 2), "texts_per_s": round(n / elapsed),
            "texts_per_cpu_s_single_process": round(per_cpu_s)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feedback", type=int, default=1500, help="feedback items to analyse (default 1500)")
    parser.add_argument("--customers", type=int, default=400, help="action requests (default 400)")
    parser.add_argument("--rpm", type=int, default=60)
    parser.add_argument("--tpm", type=int, default=12000)
    parser.add_argument("--window", type=float, default=6.0, help="seconds per scaled minute (default 6)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--local-texts", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "llm.json"))
    args = parser.parse_args(argv)

    with FakeLLMServer(seed=args.seed, rpm=args.rpm, tpm=args.tpm, window_s=args.window, latency_s=0.05) as server:
        os.environ.update(server.env())  # dummy keys and base URLs, this process only
        settings = load_settings(
            llm_provider="groq", llm_batch_size=args.batch, llm_concurrency=args.concurrency,
            llm_requests_per_minute=args.rpm, llm_tokens_per_minute=args.tpm, llm_max_requests=100_000,
            llm_max_tokens=100_000_000, llm_timeout_s=10.0,
            llm_rate_window_s=args.window, llm_progress=sys.stderr.isatty())
        print(f"fake server {server.root}: {args.rpm} RPM / {args.tpm} TPM, 1 minute = {args.window:g} s", flush=True)
        analysis = run_analysis(server, settings, args.feedback, args.seed)
        print("analysis:", json.dumps(analysis), flush=True)
        actions = run_actions(server, settings, args.customers, args.seed)
        print("actions: ", json.dumps(actions), flush=True)
    offline = local_throughput(args.local_texts, args.seed)
    print("offline analyzer:", json.dumps(offline), flush=True)

    result = {"load_average_1m": round(os.getloadavg()[0], 2), "limits": {"rpm": args.rpm, "tpm": args.tpm, "scaled_minute_s": args.window, "batch_size": args.batch,
                         "concurrency": args.concurrency},
              "analysis": analysis, "actions": actions, "offline_analyzer": offline,
              "targets": {"tokens_per_customer_max": 250, "tpm_fraction_min": 0.9, "customers_lost": 0,
                          "offline_texts_per_s_min": 5000}}
    checks = {
        "tokens_per_customer": analysis["tokens_per_customer"] <= 250,
        "tpm_fraction": analysis["tpm_fraction_overall"] >= 0.9,
        "window_limit_respected": analysis["max_tokens_in_any_window"] <= args.tpm
                                  and actions["max_tokens_in_any_window"] <= args.tpm,
        "zero_lost": analysis["customers_lost"] == 0 and actions["customers_lost"] == 0,
        # wall-clock on an idle machine; per CPU-second when other jobs share the cores
        "offline_speed": max(offline["texts_per_s"], offline["texts_per_cpu_s_single_process"]) >= 5000,
    }
    result["checks"] = checks
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True))
    print(f"\ntokens/customer {analysis['tokens_per_customer']} (target <= 250), "
          f"requests/customer {analysis['requests_per_customer']}, "
          f"TPM used {analysis['tpm_fraction_overall']:.0%} (target >= 90%; "
          f"{analysis['tpm_fraction_of_allowance']:.0%} of the most the limit allowed), "
          f"max tokens in any window {analysis['max_tokens_in_any_window']} (limit {args.tpm}), "
          f"lost {analysis['customers_lost'] + actions['customers_lost']} (target 0), "
          f"offline {offline['texts_per_s']} texts/s on {offline['cpus']} CPU(s) (target >= 5000; "
          f"{offline['texts_per_cpu_s_single_process']} per CPU-second)")
    print("checks:", ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in checks.items()))
    print(f"written: {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
