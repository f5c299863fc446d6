"""Record what the anonymizer and the allow rule decide, so a change made for speed can be
shown to change no decision (tests/test_anonymizer_outputs.py compares against this record).

Recorded, with the default rules (min Zipf 3.0, names 4.5, no special category allowed):
- every record of the labelled corpus (tests/data/pii_corpus.jsonl): anonymize(text, known)
  (text and counts), find_pii(text, known), the allow rule on the raw text (allow.denied) and
  the request gate's refusals of it, and the output check's verdict on the anonymized text;
- the first SAMPLE texts of `make bench-pii`'s workload (synthetic feedback with each author's
  identifiers), inputs included: anonymize's text and counts;
- a SHA-256 over anonymize's text and counts for the whole workload (20,000 customers).

Usage: python tests/data/make_anonymizer_outputs.py   (deterministic; rewrites the json)
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

OUT = Path(__file__).with_name("anonymizer_outputs.json")
WORKLOAD_CUSTOMERS = 20_000
SAMPLE = 1_500


def default_rules() -> None:
    from churn_workbench.egress import allow

    allow.configure(allow.Rules())


def known_of(raw: dict | None):
    from churn_workbench.anonymize import KnownIdentifiers

    if not raw:
        return None
    return KnownIdentifiers(name=raw.get("name"), email=raw.get("email"), phone=raw.get("phone"),
                            extra=tuple(raw.get("extra") or ()))


def corpus_record(text: str, known) -> dict:
    from churn_workbench.anonymize import anonymize, find_pii
    from churn_workbench.egress import allow, gate, output

    out = anonymize(text, known)
    return {
        "text": text,
        "anonymized": out.text,
        "counts": dict(sorted(out.counts.items())),
        "findings": [[f.entity_type, f.start, f.end, f.source] for f in find_pii(text, known)],
        "denied": [[d.start, d.end, d.label] for d in allow.denied(text)],
        "gate": [r.entity_type for r in gate.denials(text)],
        "output_check": output.violations(out.text, out.text),
    }


def workload_outputs(pairs) -> list[list]:
    """[anonymized text, counts] per (text, known) pair."""
    from churn_workbench.anonymize import anonymize

    rows = []
    for text, known in pairs:
        out = anonymize(text, known)
        rows.append([out.text, dict(sorted(out.counts.items()))])
    return rows


def known_as_dict(known) -> dict | None:
    return None if known is None else {"name": known.name, "email": known.email, "phone": known.phone,
                                       "extra": list(known.extra)}


def digest(rows: list[list]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def main() -> int:
    import pii_bench

    default_rules()
    lines = (ROOT / "tests" / "data" / "pii_corpus.jsonl").read_text(encoding="utf-8").splitlines()
    corpus = []
    for line in lines:
        rec = json.loads(line)
        corpus.append(corpus_record(rec["text"], known_of(rec.get("known"))))
    pairs = pii_bench.workload(WORKLOAD_CUSTOMERS)
    rows = workload_outputs(pairs)
    OUT.write_text(json.dumps({
        "corpus": corpus,
        "workload_customers": WORKLOAD_CUSTOMERS,
        "workload_texts": len(rows),
        "workload_sha256": digest(rows),
        "workload_sample": [{"text": t, "known": known_as_dict(k), "anonymized": row[0], "counts": row[1]}
                            for (t, k), row in zip(pairs[:SAMPLE], rows[:SAMPLE])],
    }, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(corpus)} corpus records, {len(rows)} workload texts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
