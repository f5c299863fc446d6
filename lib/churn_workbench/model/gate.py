"""Quality gate: whether a newly trained model may replace the deployed one."""
from __future__ import annotations

import math


def quality_gate(new_auc: float, floor: float, deployed_auc: float | None = None,
                 tolerance: float = 0.0, basis: str = "on the same held-out customers") -> tuple[bool, str]:
    """(promote, one-line reason).

    new_auc: the new model's held-out ROC-AUC. deployed_auc: the deployed model's ROC-AUC measured
    the same way (None when nothing is deployed); `basis` says how, for the message. A model is
    not promoted when its AUC is unknown, below `floor`, or below the deployed model's by more
    than `tolerance` (the noise allowed between two equally good models).
    """
    if new_auc is None or not math.isfinite(new_auc):
        return False, "the new model's held-out ROC-AUC could not be measured"
    if new_auc < floor:
        return False, f"the new model's held-out ROC-AUC {new_auc:.4f} is below the floor {floor:.4f}"
    if deployed_auc is not None and math.isfinite(deployed_auc) and new_auc < deployed_auc - tolerance:
        return False, (f"the new model's held-out ROC-AUC {new_auc:.4f} is worse than the deployed model's "
                       f"{deployed_auc:.4f} {basis} (tolerance {tolerance:.4f})")
    if deployed_auc is None:
        return True, f"held-out ROC-AUC {new_auc:.4f} meets the floor {floor:.4f}; no model was deployed"
    return True, (f"held-out ROC-AUC {new_auc:.4f} meets the floor {floor:.4f} and is not worse than the "
                  f"deployed model's {deployed_auc:.4f} {basis}")
