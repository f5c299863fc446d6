"""Recall and precision of the PII finder on a labelled corpus.

    python -m churn_workbench.pii_eval [--corpus tests/data/pii_corpus.jsonl] [--json out.json]

Corpus lines: {"text", "known": {...} | null, "spans": [{"start", "end", "type", "own"?}]}.

Matching rule (also in docs/pii_evaluation.md):
- a labelled span is *found* when a finding overlaps it and both types are in the same
  family (CUSTOMER_ID and ACCOUNT_NUMBER form the family ID; every other type is its own);
- a labelled span is *covered* when every letter and digit of it lies inside some finding of
  any type, i.e. nothing of it would survive anonymization;
- a finding is *correct* when it overlaps a labelled span of its family; precision of a family
  is correct findings / all findings of that family.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from churn_workbench.anonymize import Finding, KnownIdentifiers, anonymize, find_pii

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "pii_corpus.jsonl"
FAMILIES = ("PERSON", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "URL", "ID")
STRUCTURED = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN")


def family(entity_type: str) -> str:
    """Entity type -> family used for matching ("ACCOUNT_NUMBER" -> "ID")."""
    return "ID" if entity_type in ("CUSTOMER_ID", "ACCOUNT_NUMBER") else entity_type


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str
    own: bool = False


@dataclass(frozen=True)
class Record:
    text: str
    known: KnownIdentifiers | None
    spans: tuple[Span, ...]
    split: str = "dev"  # "holdout": written after tuning, never tuned against


@dataclass
class Tally:
    """Counts for one row of the report."""

    spans: int = 0
    found: int = 0
    covered: int = 0
    findings: int = 0
    correct: int = 0

    @property
    def recall(self) -> float | None:
        return self.found / self.spans if self.spans else None

    @property
    def coverage(self) -> float | None:
        return self.covered / self.spans if self.spans else None

    @property
    def precision(self) -> float | None:
        return self.correct / self.findings if self.findings else None

    def add(self, other: "Tally") -> None:
        for name in ("spans", "found", "covered", "findings", "correct"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        return {**asdict(self), "recall": self.recall, "coverage": self.coverage, "precision": self.precision}


@dataclass
class Report:
    """Per-family tallies, aggregates, misses and false positives, speed."""

    families: dict[str, Tally] = field(default_factory=lambda: {f: Tally() for f in FAMILIES})
    own: Tally = field(default_factory=Tally)
    structured: Tally = field(default_factory=Tally)
    overall: Tally = field(default_factory=Tally)
    records: int = 0
    negative_records: int = 0
    negative_records_with_findings: int = 0
    misses: list[dict] = field(default_factory=list)
    false_positives: list[dict] = field(default_factory=list)
    ms_per_text: float | None = None

    def as_dict(self) -> dict:
        return {
            "families": {k: v.as_dict() for k, v in self.families.items()},
            "own_identifiers": self.own.as_dict(),
            "structured": self.structured.as_dict(),
            "overall": self.overall.as_dict(),
            "records": self.records,
            "negative_records": self.negative_records,
            "negative_records_with_findings": self.negative_records_with_findings,
            "ms_per_text": self.ms_per_text,
            "misses": self.misses,
            "false_positives": self.false_positives,
        }


def load_corpus(path: Path = DEFAULT_CORPUS) -> list[Record]:
    """Read a jsonl corpus into Records."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        known = raw.get("known")
        if known:
            known = KnownIdentifiers(
                name=known.get("name"), email=known.get("email"), phone=known.get("phone"),
                extra=tuple(known.get("extra") or ()),
            )
        spans = tuple(Span(s["start"], s["end"], s["type"], bool(s.get("own"))) for s in raw["spans"])
        records.append(Record(raw["text"], known or None, spans, raw.get("split", "dev")))
    return records


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _covered(text: str, span: Span, findings: list[Finding]) -> bool:
    """Every letter/digit of the span lies inside some finding."""
    return all(
        any(f.start <= i < f.end for f in findings)
        for i in range(span.start, span.end)
        if text[i].isalnum()
    )


def evaluate(records: list[Record], time_it: bool = True) -> Report:
    """Run find_pii over the corpus and tally recall, coverage and precision per family."""
    report = Report(records=len(records))
    for rec in records:
        findings = find_pii(rec.text, rec.known)
        _tally_spans(rec, findings, report)
        _tally_findings(rec, findings, report)
        if not rec.spans:
            report.negative_records += 1
            report.negative_records_with_findings += bool(findings)
    for name, tally in report.families.items():
        report.overall.add(tally)
        if name in STRUCTURED:
            report.structured.add(tally)
    if time_it:
        report.ms_per_text = _ms_per_text(records)
    return report


def _tally_spans(rec: Record, findings: list[Finding], report: Report) -> None:
    for span in rec.spans:
        fam = family(span.type)
        found = any(
            family(f.entity_type) == fam and _overlaps(f.start, f.end, span.start, span.end)
            for f in findings
        )
        covered = _covered(rec.text, span, findings)
        rows = [report.families[fam]] + ([report.own] if span.own else [])
        for row in rows:
            row.spans += 1
            row.found += found
            row.covered += covered
        if not found or not covered:
            report.misses.append({"text": rec.text, "span": rec.text[span.start : span.end],
                                  "type": span.type, "own": span.own, "found": found, "covered": covered})


def _tally_findings(rec: Record, findings: list[Finding], report: Report) -> None:
    for f in findings:
        fam = family(f.entity_type)
        correct = any(
            family(s.type) == fam and _overlaps(f.start, f.end, s.start, s.end) for s in rec.spans
        )
        row = report.families.setdefault(fam, Tally())
        row.findings += 1
        row.correct += correct
        if any(s.own and _overlaps(f.start, f.end, s.start, s.end) for s in rec.spans):
            report.own.findings += 1
            report.own.correct += correct
        if not correct:
            report.false_positives.append({"text": rec.text, "finding": rec.text[f.start : f.end],
                                           "type": f.entity_type, "source": f.source})


def _ms_per_text(records: list[Record], min_seconds: float = 0.5) -> float:
    """Mean wall time of anonymize() per corpus text (engine already warm)."""
    anonymize("warm-up")
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        for rec in records:
            anonymize(rec.text, rec.known)
        n += len(records)
    return (time.perf_counter() - start) / n * 1000


def benchmark(records: list[Record], n_texts: int = 20_000, seed: int = 7) -> dict[str, dict[str, float]]:
    """Time anonymize() on feedback-sized texts built from the corpus.

    Each text joins 2-6 random corpus records (about 100-400 characters, the size of real
    feedback) and carries the first record's known identifiers. Two workloads bracket real
    feedback: "no_pii" uses only the negative records, "mixed" all records (about four PII
    items per text). Returns, per workload, mean characters, CPU and wall ms/text in one
    process."""
    import random

    rng = random.Random(seed)
    pools = {"no_pii": [r for r in records if not r.spans], "mixed": records}
    out = {}
    anonymize("warm-up Anna +44 7911 123456 anna@example.com")
    for name, pool in pools.items():
        batch = []
        for _ in range(n_texts):
            parts = rng.sample(pool, rng.randint(2, 6))
            batch.append((" ".join(p.text for p in parts), parts[0].known))
        cpu, wall = time.process_time(), time.perf_counter()
        for text, known in batch:
            anonymize(text, known)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        out[name] = {
            "texts": n_texts,
            "mean_chars": sum(len(t) for t, _ in batch) / n_texts,
            "cpu_ms_per_text": cpu / n_texts * 1000,
            "wall_ms_per_text": wall / n_texts * 1000,
        }
    return out


def format_table(report: Report) -> str:
    """The report as a plain-text table."""
    def pct(x: float | None) -> str:
        return "   -  " if x is None else f"{100 * x:6.1f}"

    lines = [f"{'family':<18}{'spans':>6}{'recall%':>9}{'covered%':>10}{'findings':>9}{'precision%':>11}"]
    rows = list(report.families.items()) + [
        ("own identifiers", report.own), ("structured", report.structured), ("overall", report.overall)
    ]
    for name, t in rows:
        lines.append(f"{name:<18}{t.spans:>6}{pct(t.recall):>9}{pct(t.coverage):>10}{t.findings:>9}{pct(t.precision):>11}")
    lines.append(
        f"records: {report.records}; negative records with a finding: "
        f"{report.negative_records_with_findings}/{report.negative_records}"
    )
    if report.ms_per_text is not None:
        lines.append(f"anonymize(): {report.ms_per_text:.3f} ms/text on this corpus")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table (and misses/false positives with -v); write JSON with --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, help="write the full report as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="list misses and false positives")
    parser.add_argument(
        "--bench", type=int, metavar="N", help="also time anonymize() on N feedback-sized texts"
    )
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    records = load_corpus(args.corpus)
    report = evaluate(records)
    print(format_table(report))
    holdout = [r for r in records if r.split == "holdout"]
    holdout_report = evaluate(holdout, time_it=False) if holdout else None
    if holdout_report:
        print("\nholdout split only (written after tuning):")
        print(format_table(holdout_report))
    if args.verbose:
        for m in report.misses:
            print("MISS", m)
        for fp in report.false_positives:
            print("FP  ", fp)
    speed = benchmark(records, args.bench) if args.bench else None
    if speed:
        print("\nspeed, one process:")
        for name, row in speed.items():
            print(f"  {name:<7} {row['mean_chars']:6.0f} chars/text  {row['cpu_ms_per_text']:.3f} ms CPU/text"
                  f"  {row['wall_ms_per_text']:.3f} ms wall/text")
    if args.json:
        payload = report.as_dict()
        if holdout_report:
            payload["holdout"] = holdout_report.as_dict()
        if speed:
            payload["speed"] = speed
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
