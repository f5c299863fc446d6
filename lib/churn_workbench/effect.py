"""Did the retention actions work? Treated vs control churn, with intervals, and Qini curves.

The control group is random (control.py), so the difference in churn rates between customers
who were contacted and those held out estimates the actions' effect without any model. Here the
*effect* is control churn rate minus treated churn rate: positive = the actions kept customers,
in fractions of customers (0.05 = 5 points fewer churners).

- **Intervals.** Newcombe's hybrid score interval for a difference of two proportions (method
  10 of Newcombe 1998): closed form, no random numbers, and close to its nominal coverage even
  for small groups and rates near 0 or 1, where the plain Wald or a percentile bootstrap are too
  narrow. A percentile bootstrap (`method="bootstrap"`, resampling each arm; for 0/1 outcomes
  that is a binomial draw per arm) is available for comparison. tests/test_effect.py measures
  the coverage of both against the synthetic generator's known effect.
- **Not enough data.** Below `min_control` customers with outcomes in the control group (or in
  the treated group) a row says "not enough data" and shows no difference: a number from ten
  customers would be read as a finding.
- **Per action type**, the control customers compared are those for whom the act stage recorded
  that same action as the one they would have received (control rows of `actions` carry the
  catalogue's choice, fixed before any outcome was known). **Per segment**, the same split by
  the run's risk segment.
- **Qini curves** rank the experiment's customers by a policy's score (risk, or an uplift
  estimate) and show, for the top k, the incremental customers kept: churners the treated top-k
  would have had at the control top-k's rate, minus the churners they had (Radcliffe 2007).
  A good policy's curve rises steeply above the straight line of random targeting.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
NOT_ENOUGH = "not enough data"
RISK_POLICY = "risk (churn probability)"


# --------------------------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------------------------

def wilson(churners: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (nan, nan) for n == 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = churners / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def effect_interval(churn_treated: int, n_treated: int, churn_control: int, n_control: int,
                    method: str = "newcombe", level: float = 0.95, seed: int = 0,
                    draws: int = 4000) -> tuple[float, float, float]:
    """(effect, low, high): effect = control rate - treated rate, with a `level` interval."""
    if n_treated <= 0 or n_control <= 0:
        return float("nan"), float("nan"), float("nan")
    pt, pc = churn_treated / n_treated, churn_control / n_control
    effect = pc - pt
    if method == "newcombe":
        z = Z95 if level == 0.95 else _z(level)
        lc, uc = wilson(churn_control, n_control, z)
        lt, ut = wilson(churn_treated, n_treated, z)
        low = effect - np.sqrt((pc - lc) ** 2 + (ut - pt) ** 2)
        high = effect + np.sqrt((uc - pc) ** 2 + (pt - lt) ** 2)
        return float(effect), float(low), float(high)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        sample = rng.binomial(n_control, pc, draws) / n_control - rng.binomial(n_treated, pt, draws) / n_treated
        tail = (1 - level) / 2
        low, high = np.quantile(sample, [tail, 1 - tail])
        return float(effect), float(low), float(high)
    raise ValueError(f"unknown interval method {method!r}; use 'newcombe' or 'bootstrap'")


def _z(level: float) -> float:
    from statistics import NormalDist
    return NormalDist().inv_cdf(0.5 + level / 2)


# --------------------------------------------------------------------------------------------
# the experiment of one run
# --------------------------------------------------------------------------------------------

def experiment(con, run_id: str) -> pd.DataFrame:
    """One row per customer the run treated or held out, with the observed outcome if known:
    customer_id, segment, action_type, treated (bool), churned (0/1, <NA> if no outcome),
    churn_probability (the run's risk score, if the run scored the customer)."""
    return con.execute(
        """SELECT a.customer_id, a.segment, a.action_type, a.status <> 'control' AS treated,
                  o.churned::INTEGER AS churned, p.churn_probability
           FROM actions a
           LEFT JOIN outcomes o ON o.run_id = a.run_id AND o.customer_id = a.customer_id
           LEFT JOIN predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id
           WHERE a.run_id = ? ORDER BY a.customer_id""", [run_id]).df().astype({"churned": "Int64"})


def effect_table(frame: pd.DataFrame, by: str | None = None, min_control: int = 30,
                 method: str = "newcombe") -> pd.DataFrame:
    """Treated vs control per group of `by` (None: one row, "all customers").

    frame: as `experiment` returns (rows without an outcome are ignored). Returns the columns of
    `from_counts`.
    """
    known = frame[frame["churned"].notna()]
    groups = [("all customers", known)] if by is None else \
        [(str(k), g) for k, g in known.groupby(by, sort=True, dropna=False)]
    counts = pd.DataFrame([{"group": name, "treated": int(g["treated"].sum()), "control": int((~g["treated"]).sum()),
                            "churned_treated": int(g.loc[g["treated"], "churned"].sum()),
                            "churned_control": int(g.loc[~g["treated"], "churned"].sum())} for name, g in groups],
                          columns=["group", "treated", "control", "churned_treated", "churned_control"])
    return from_counts(counts, min_control, method)


def from_counts(counts: pd.DataFrame, min_control: int = 30, method: str = "newcombe") -> pd.DataFrame:
    """Rates, effect and interval per row of counts (group, treated, control, churned_treated,
    churned_control). Columns: group, treated, control (customers with an outcome),
    churn_treated, churn_control (rates), effect, ci_low, ci_high (NaN below min_control), verdict."""
    rows = []
    for r in counts.itertuples(index=False):
        nt, nc, ct, cc = int(r.treated), int(r.control), int(r.churned_treated), int(r.churned_control)
        row = {"group": r.group, "treated": nt, "control": nc,
               "churn_treated": ct / nt if nt else np.nan, "churn_control": cc / nc if nc else np.nan,
               "effect": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        if nc < min_control:
            row["verdict"] = f"{NOT_ENOUGH} (control n={nc} < {min_control})"
        elif nt < min_control:
            row["verdict"] = f"{NOT_ENOUGH} (treated n={nt} < {min_control})"
        else:
            row["effect"], row["ci_low"], row["ci_high"] = effect_interval(ct, nt, cc, nc, method)
            row["verdict"] = ("kept customers" if row["ci_low"] > 0 else
                              "lost customers" if row["ci_high"] < 0 else "no clear effect")
        rows.append(row)
    columns = ["group", "treated", "control", "churn_treated", "churn_control", "effect", "ci_low", "ci_high", "verdict"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Qini curves
# --------------------------------------------------------------------------------------------

def qini_curve(score, treated, churned, points: int = 51) -> pd.DataFrame:
    """Observed Qini curve of a ranking: columns fraction (of customers targeted, best score
    first) and incremental (customers kept among the treated top-k vs the control top-k's rate)."""
    score, treated, churned = (np.asarray(score, dtype=float), np.asarray(treated, dtype=bool),
                               np.asarray(churned, dtype=float))
    order = np.argsort(-score, kind="stable")
    t, y = treated[order], churned[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    c_t, c_c = np.cumsum(y * t), np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(n_c > 0, c_c / n_c * n_t, 0.0) - c_t
    inc = np.concatenate([[0.0], inc])
    k = np.unique(np.linspace(0, len(order), points).round().astype(int))
    return pd.DataFrame({"fraction": k / max(len(order), 1), "incremental": inc[k]})


def gain_curve(score, true_effect, points: int = 51) -> pd.DataFrame:
    """Ground-truth Qini curve (synthetic data): cumulative true effect of the top-k by score."""
    score, effect = np.asarray(score, dtype=float), np.asarray(true_effect, dtype=float)
    order = np.argsort(-score, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(effect[order])])
    k = np.unique(np.linspace(0, len(order), points).round().astype(int))
    return pd.DataFrame({"fraction": k / max(len(order), 1), "incremental": cum[k]})


def qini_coefficient(curve: pd.DataFrame) -> float:
    """Area between a curve and the straight line of random targeting (same end point)."""
    x, y = curve["fraction"].to_numpy(), curve["incremental"].to_numpy()
    return float(np.trapezoid(y - y[-1] * x, x))


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------

@dataclass
class EffectReport:
    run_id: str
    customers: int                 # treated + control customers of the run
    with_outcome: int
    overall: pd.DataFrame
    by_action: pd.DataFrame
    by_segment: pd.DataFrame
    qini: pd.DataFrame = field(default_factory=pd.DataFrame)   # policy, fraction, incremental

    def lines(self) -> list[str]:
        """The report as terminal lines."""
        out = [f"Effect of run {self.run_id}'s actions: {self.with_outcome:,} of {self.customers:,} customers "
               "with an observed outcome (effect = control churn - treated churn, 95% interval)"]
        for title, table in (("overall", self.overall), ("by action type", self.by_action), ("by segment", self.by_segment)):
            out.append(f"  {title}:")
            for r in table.itertuples(index=False):
                if np.isnan(r.effect):
                    out.append(f"    {r.group:<18} treated {r.treated:>6,}  control {r.control:>5,}  {r.verdict}")
                else:
                    out.append(f"    {r.group:<18} treated {r.treated:>6,}  control {r.control:>5,}  churn "
                               f"{r.churn_treated:6.1%} vs {r.churn_control:6.1%}  effect {r.effect:+.1%} "
                               f"[{r.ci_low:+.1%}, {r.ci_high:+.1%}]  {r.verdict}")
        return out


def report(con, run_id: str, min_control: int = 30, method: str = "newcombe") -> EffectReport:
    """The effect report of one run's actions, from the `actions`, `outcomes` and `predictions` tables."""
    frame = experiment(con, run_id)
    known = frame[frame["churned"].notna()]
    curves = []
    if len(known) and known["treated"].any() and (~known["treated"]).any():
        curves.append(qini_curve(known["churn_probability"].fillna(0), known["treated"],
                                 known["churned"].astype(float)).assign(policy=RISK_POLICY))
    qini = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["fraction", "incremental", "policy"])
    return EffectReport(run_id, len(frame), len(known), effect_table(frame, None, min_control, method),
                        effect_table(frame, "action_type", min_control, method),
                        effect_table(frame, "segment", min_control, method), qini)

