"""The run summary says how customers were chosen for an action, and its reasons for the ones
left out match that rule: under uplift targeting nobody is "not in segment High,Medium"."""
from __future__ import annotations

import re

import pytest

from churn_workbench import run_report

RISK_EVENTS = {
    ("act", "targeting", None): {"method": "risk", "reason": "no earlier run with enough outcomes"},
    ("act", "actions_written", None): {"targeting": "risk", "action_segments": "High,Medium", "not_in_segments": 851,
                                       "excluded_churned": 3, "by_status": {"sent": 100, "control": 11}},
}
UPLIFT_EVENTS = {
    ("act", "targeting", None): {"method": "uplift", "outcomes_run": "trial-1", "trained_treated": 400,
                                 "trained_control": 390, "budget": 119, "selected": 119, "value_column": None},
    ("act", "actions_written", None): {"targeting": "uplift", "action_segments": "High,Medium", "not_in_segments": 0,
                                       "not_chosen": 851, "no_expected_benefit": 120, "excluded_churned": 3,
                                       "by_status": {"sent": 107, "control": 12}},
}


def test_risk_targeting_line_and_reasons():
    line = run_report.targeting(RISK_EVENTS)
    assert line.startswith("by risk: every scored customer in segments High,Medium")
    assert "no earlier run with enough outcomes" in line
    assert run_report.not_actioned(RISK_EVENTS) == {"risk segment not in High,Medium": 851, "already churned": 3,
                                                    "held out as control group": 11}


def test_uplift_targeting_line_and_reasons_never_mention_segments():
    line = run_report.targeting(UPLIFT_EVENTS)
    assert line.startswith("by uplift: the 119 customers an action is expected to help most")
    assert "outcomes of run trial-1" in line and "whatever their segment" in line
    reasons = run_report.not_actioned(UPLIFT_EVENTS)
    assert not any("segment not in" in r for r in reasons)
    assert reasons == {"an action is not expected to help them (uplift: expected effect not above zero)": 120,
                       "ranked below the customers an action should help most (uplift)": 731,
                       "already churned": 3, "held out as control group": 12}


def test_no_act_stage_no_targeting_line():
    assert run_report.targeting({}) is None


@pytest.fixture(scope="module")
def loop(built_loop):
    """The README's closing-the-loop commands (an experiment, its outcomes, and a run that targets
    by uplift), built once for the session (tests/workspaces.py, mode "loop")."""
    ws = built_loop.restore()
    return ws, [built_loop.output(name) for name in ("trial-1", "outcomes", "trial-2")]


def _line(output: str, label: str) -> str:
    match = re.search(rf"^  {label}:\s*(.*)$", output, re.M)
    assert match, f"no '{label}:' line in\n{output}"
    return match.group(1)


@pytest.mark.slow
def test_summary_of_an_uplift_run_says_so_and_its_reasons_add_up(loop):
    ws, outputs = loop
    first, second = outputs[0], outputs[2]
    assert _line(first, "targeting").startswith("by risk: every scored customer in segments High,Medium,Low")
    uplift_line = _line(second, "targeting")
    assert uplift_line.startswith("by uplift: the ") and "outcomes of run trial-1" in uplift_line
    not_actioned = _line(second, "not actioned")
    assert "segment not in" not in not_actioned and "(uplift)" in not_actioned
    # Segments read High, Medium, Low (not alphabetically), in both the segments and actions lines.
    segments = _line(second, "segments")
    assert segments.index("High") < segments.index("Medium") < segments.index("Low")

    # Every scored customer is accounted for exactly once: contacted, or one reason.
    summary = run_report.summary(ws.db_path, "trial-2")
    contacted = sum(n for status, n in summary["actions"].items() if status != "control")
    assert summary["scored"] == contacted + sum(summary["not_actioned"].values())
