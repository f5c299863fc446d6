"""The control group: random, stable per customer across runs, and provable from the audit chain."""
import pytest

from churn_workbench import control
from churn_workbench.audit import AuditLog
from churn_workbench.control import control_group
from churn_workbench.pseudonyms import SubjectRefs


def test_control_group_is_deterministic_and_order_free():
    ids = [f"C{i:07d}" for i in range(20_000)]
    first = control_group(ids, 0.1, seed=7)
    again = control_group(list(reversed(ids)), 0.1, seed=7)
    assert first.dtype == bool and first.index.name == "customer_id"
    assert first.equals(again.reindex(first.index))
    subset = control_group(ids[:500], 0.1, seed=7)
    assert subset.equals(first.iloc[:500])  # membership does not depend on who else is in the file
    assert abs(first.mean() - 0.1) < 0.01
    other = control_group(ids, 0.1, seed="another-seed")
    assert (first != other).mean() > 0.1
    assert not control_group(ids, 0.0, seed=7).any()
    assert abs(control_group(ids, 0.5, seed=7).mean() - 0.5) < 0.02


def test_raising_the_share_only_adds_customers_to_the_control_group():
    ids = [f"C{i:07d}" for i in range(5_000)]
    small, large = control_group(ids, 0.1, seed=3), control_group(ids, 0.3, seed=3)
    assert (large | ~small).all() and large.sum() > small.sum()


def test_control_group_share_validated():
    with pytest.raises(ValueError, match="share"):
        control_group(["a"], 1.0, seed=1)
    with pytest.raises(ValueError, match="share"):
        control_group(["a"], -0.1, seed=1)


def test_assignment_digest_in_the_audit_event_lets_an_auditor_recompute_the_group(tmp_path):
    refs = SubjectRefs(tmp_path / "key")
    ids = [f"C{i:07d}" for i in range(2_000)]
    group = control_group(ids, 0.2, seed=11)
    log = AuditLog("run-1", "act")
    digest = control.record_assignment(log, refs, group, 0.2, 11)
    event = log.pending[-1]
    assert event["event_type"] == "control_group_assigned" and digest in event["details"]
    assert "C0000001" not in event["details"]  # pseudonymous refs only, never ids
    assert control.verify_assignment(list(reversed(ids)), refs, 0.2, 11, digest)
    # A group that was cherry-picked (one customer moved) or drawn with another seed does not match.
    picked = group.copy()
    picked.iloc[0] = not picked.iloc[0]
    assert control.assignment_digest(refs.refs(picked.index), picked.to_numpy()) != digest
    assert not control.verify_assignment(ids, refs, 0.2, 12, digest)
