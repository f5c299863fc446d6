"""Quality gate: whether a newly trained model may be deployed, decided on the weight of evidence.

The evidence is the new model's ROC-AUC over all its out-of-fold predictions, with a 95%
interval (`evidence.selected_auc`), and, when a model of the same data contract is deployed, the
difference between the two with its interval (`evidence.paired_difference` on customers the
deployed model never saw, else `evidence.unpaired_difference` against its recorded figure).

A model is refused only when the evidence says so:
- it is no better than chance: the interval reaches down to 0.5 (asked only when the floor is
  above chance: a floor of 0.5 or less means the operator wants no quality demand);
- it is below the floor: the whole interval lies below `floor`;
- it trails the deployed model: the whole interval of the difference lies below -`tolerance`.
Anything else is promoted: with few rows the intervals are wide, and a model is not refused for
what its data cannot show either way.
"""
from __future__ import annotations

import math

CHANCE = 0.5


def _n(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def interval_text(estimate: float, ci, rows: int | None = None) -> str:
    """'ROC-AUC 0.846 (95% interval 0.829-0.862, out-of-fold over 5,634 labelled customers)'."""
    where = f", out-of-fold over {rows:,} labelled customers" if rows else ""
    return f"ROC-AUC {_n(estimate)} (95% interval {_n(ci[0])}–{_n(ci[1])}{where})"


def quality_gate(estimate: float | None, ci, floor: float, comparison: dict | None = None,
                 tolerance: float = 0.0, rows: int | None = None) -> tuple[bool, str]:
    """(promote, one-line reason).

    estimate, ci: the new model's ROC-AUC and its 95% interval [low, high]. comparison: None when
    no model of the same data contract is deployed, else {"difference", "ci", "basis", "old"}
    (new minus deployed; basis says how they were compared, for the message).
    """
    if estimate is None or not math.isfinite(estimate) or ci is None or not all(map(math.isfinite, ci)):
        return False, "the new model's ROC-AUC could not be measured"
    measured = interval_text(estimate, ci, rows)
    if floor > CHANCE and ci[0] <= CHANCE:
        return False, f"no evidence that it ranks churners above the others better than chance: {measured} reaches {CHANCE}"
    if ci[1] < floor:
        return False, f"below the floor: {measured} lies wholly below {_n(floor, 2)}"
    if comparison is not None:
        d, (low, high) = comparison["difference"], comparison["ci"]
        versus = (f"difference {d:+.3f} (95% interval {low:+.3f} to {high:+.3f}) against the deployed model "
                  f"of this data contract {comparison['basis']}")
        if high < -tolerance:
            return False, f"worse than the deployed model: {versus}, beyond the tolerance {tolerance:.3f}"
        return True, f"{measured}: better than chance, not below the floor {_n(floor, 2)}, and not worse: {versus}"
    return True, f"{measured}: better than chance and not below the floor {_n(floor, 2)}"
