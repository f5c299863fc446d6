"""Uplift: whom an action moves, learned from a run's randomised experiment and its outcomes.

Risk is the wrong target (Ascarza, "Retention Futility", 2018): the customers most likely to
leave are often the ones no offer keeps ("lost causes"), and some customers leave *because* they
were contacted ("sleeping dogs"). What matters is the effect of the action on the customer:
the drop in their churn probability if contacted.

The estimate is the mean of two churn models that each give a customer's churn probability
with and without the action (effect = the difference), fitted on both arms of the experiment:

- **Interaction model.** One logistic regression on one-hot categories and spline-expanded
  numbers, plus the treatment flag and the treatment times every feature: the action shifts a
  customer's churn log-odds by an amount that depends on who they are. Fitting both arms in one
  model is what keeps it stable: the baseline (who churns anyway) is learned from every customer,
  the shift only from the contrast between arms. Two separate arm models (the classic T-learner)
  each fit their arm's noise, and their difference is mostly noise. The shift's columns are
  scaled by 2, i.e. a quarter of the baseline's L2 penalty (1 to 3 measured alike). An effect
  that is a shift in log-odds is largest for the customers at middling-to-high risk who do
  respond, which is how retention offers tend to work.
- **Arm models from a shared base.** One logistic regression on the same expansion plus the
  flag alone (one shift for everyone), with both arms weighted equally; then, per arm, small
  boosted trees (depth 2, 100 damped rounds, LightGBM) that start from the base's log-odds and
  correct it with that arm's outcomes. Trees can find what a smooth additive shift cannot: that
  the offer works on month-to-month customers *except* those already gone (inactive for weeks,
  many complaints), i.e. an effect that switches on and off at thresholds and within groups.
  Starting both arms from one base, and damping each correction hard, shrinks the arms towards
  each other: a small arm has little evidence and stays close to the base. Without the equal
  weighting, a 10% control group would leave the base as the treated arm's churn model and its
  trees would have to learn the whole difference.

The two err in different places (the additive shift on interactions, the trees on noise), and
their mean has the higher floor. Measured on the synthetic ground truth (synthetic.py:
persuadables, sure things, lost causes and sleeping dogs defined by thresholds on observable
columns) as the Qini coefficient of the ranking on the true effects, as a share of the oracle's;
2,000 customers, 60% of them in the experiment (bench/uplift_bench.py; min / median):

                                   seeds 1-20    seeds 21-40
    half held out, X-learner before   0.78 / 0.81   0.65 / 0.80
    half held out, this estimate      0.84 / 0.88   0.77 / 0.88
      arm models alone                0.79 / 0.89   0.79 / 0.90
      interaction model alone         0.78 / 0.84   0.67 / 0.83
    10-20% held out, before           0.46 / 0.74   0.44 / 0.72
    10-20% held out, this estimate    0.58 / 0.85   0.66 / 0.85

On the README loop's experiment (about 870 customers, half held out, seven pipeline seeds) it
reaches 0.85-0.88 of the oracle's Qini (before: 0.75-0.86; risk targeting 0.69-0.76). With only
100-200 control customers a few draws still fall to 0.6: the control arm is all there is to
learn what happens without the action. The settings below are fixed, not tuned per fit:
cross-validating each arm's number of tree rounds (out-of-fold log-loss) picked anywhere from 1
to 300 on equally good data and gained nothing. (Earlier figures here, 0.79-0.84, came from a
library test whose outcomes reused the arm assignment's random numbers: no randomised
experiment. tests/test_uplift.py now draws them from a stream of their own.)

The features are the customer's own feature columns (role "feature") plus the action type the
customer gets (or, in the control group, would have got): the effect depends on the offer. The
churn model's derived feedback features (counts, sentiment, a dozen sparse topic flags) are left
out: with a few hundred customers per arm every extra column adds noise to both arms, and on
the synthetic ground truth they cost more than they gave (Qini 0.64 -> 0.75 of the oracle's
when removed, one pipeline experiment of 1,157 customers, with the previous estimator).

Targeting then ranks customers by expected effect x value (a customer column named by the
setting WORKBENCH_VALUE_COLUMN, else 1 each) and contacts the best ones, never a customer with a
negative expected effect, with the same budget the risk rule would have used.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from scipy import sparse
from scipy.special import expit

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

from . import db

REGULARISATION_C = 0.1   # inverse L2 strength of the logistic regressions
INTERACTION_SCALE = 2.0  # treatment columns are multiplied by this: their L2 penalty is 1/4 of the rest
SPLINE_KNOTS = 4
# The per-arm corrections. Depth 2: a split on the group an offer works on, then a threshold
# inside it. The heavy L2 (for a leaf of 40 customers it cuts the Newton step to under a tenth)
# makes a correction the sum of many rounds of agreeing evidence, not one lucky leaf: lambda 30
# with 250 rounds lost 2 points of median and 4 of minimum (balanced, seeds 1-40).
TREE_PARAMS = dict(objective="binary", learning_rate=0.05, max_depth=2, num_leaves=4, min_data_in_leaf=40,
                   lambda_l2=100.0, min_sum_hessian_in_leaf=0.0, cat_smooth=10, min_data_per_group=20,
                   max_cat_to_onehot=8, num_threads=1, deterministic=True, verbose=-1)
TREE_ROUNDS = 100


@dataclass
class UpliftModel:
    """A fitted uplift estimate. `effect(X)` is in fractions of customers (0.1 = 10 points less
    churn if contacted); `n_treated`/`n_control` are the customers each arm saw."""
    columns: list[str]
    n_treated: int
    n_control: int
    trained_on: str = ""
    basis: object = None          # one-hot + spline expansion of X, fitted on the experiment
    interaction: object = None    # logistic regression on [basis, t, t x basis]
    shared_base: object = None    # logistic regression on [basis, t], arms weighted equally
    corrections: dict = field(default_factory=dict)   # arm -> boosted trees on top of shared_base
    categories: dict = field(default_factory=dict)    # column -> categories the trees saw

    def two_model_effect(self, X: pd.DataFrame) -> pd.Series:
        """The two arm models alone (shared base + each arm's corrections): P(churn | control arm)
        - P(churn | treated arm)."""
        X = _prepare(X, self.columns)
        return pd.Series(self._arm_effect(X, self.basis.transform(X)), index=X.index, name="uplift")

    def interaction_effect(self, X: pd.DataFrame) -> pd.Series:
        """The interaction model alone."""
        X = _prepare(X, self.columns)
        return pd.Series(self._interaction_effect(self.basis.transform(X)), index=X.index, name="uplift")

    def effect(self, X: pd.DataFrame) -> pd.Series:
        X = _prepare(X, self.columns)
        B = self.basis.transform(X)
        tau = 0.5 * self._interaction_effect(B) + 0.5 * self._arm_effect(X, B)
        return pd.Series(tau, index=X.index, name="uplift")

    def _interaction_effect(self, B) -> np.ndarray:
        logit0 = self.interaction.decision_function(_with_treatment(B, 0.0, interact=True))
        logit1 = self.interaction.decision_function(_with_treatment(B, 1.0, interact=True))
        return expit(logit0) - expit(logit1)

    def _arm_effect(self, X: pd.DataFrame, B) -> np.ndarray:
        frame = _tree_frame(X, self.categories)
        logit = {}
        for arm, t in (("control", 0.0), ("treated", 1.0)):
            base = self.shared_base.decision_function(_with_treatment(B, t, interact=False))
            logit[arm] = base + self.corrections[arm].predict(frame, raw_score=True)
        return expit(logit["control"]) - expit(logit["treated"])


def _prepare(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    X = X.reindex(columns=columns)
    out = {}
    for c in columns:
        s = X[c]
        if ptypes.is_bool_dtype(s.dtype) or ptypes.is_numeric_dtype(s.dtype):
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[c] = s.astype(object).where(s.notna(), "(missing)").astype(str)
    return pd.DataFrame(out, index=X.index)


def _basis(X: pd.DataFrame) -> ColumnTransformer:
    # sklearn (and LightGBM, in `fit`) load only when an uplift model is fitted: the act stage imports this
    # module on every run, and most runs have no experiment to learn from yet.
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler
    numeric = [c for c in X.columns if ptypes.is_float_dtype(X[c].dtype)]
    categorical = [c for c in X.columns if c not in numeric]
    # A column with few distinct values (a flag, a count) gets no spline: it has no curve to fit.
    curved = [c for c in numeric if X[c].nunique(dropna=True) > SPLINE_KNOTS + 2]
    flat = [c for c in numeric if c not in curved]
    parts = [("c", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical)]
    if curved:
        parts.append(("s", make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                         SplineTransformer(n_knots=SPLINE_KNOTS, degree=2)), curved))
    if flat:
        parts.append(("f", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), flat))
    return ColumnTransformer(parts, sparse_threshold=1.0)


def _with_treatment(B, t, interact: bool):
    """[B, t] or [B, t, t x B] (t a scalar or one value per row), treatment columns scaled."""
    B = sparse.csr_matrix(B)
    t = np.broadcast_to(np.asarray(t, dtype=float), (B.shape[0],)) * INTERACTION_SCALE
    blocks = [B, sparse.csr_matrix(t[:, None])]
    if interact:
        blocks.append(sparse.diags(t) @ B)
    return sparse.hstack(blocks, format="csr")


def _tree_frame(X: pd.DataFrame, categories: dict) -> pd.DataFrame:
    """X for LightGBM: plain column names (it rejects some characters), text as categories."""
    return pd.DataFrame({f"x{i}": pd.Categorical(X[c], categories=categories[c]) if c in categories else X[c]
                         for i, c in enumerate(X.columns)}, index=X.index)


def fit(X: pd.DataFrame, treated, churned, seed: int = 0, trained_on: str = "") -> UpliftModel:
    """Fit the estimate. X: features indexed by customer id; treated: bool per row; churned: 0/1.

    Raises ValueError if an arm has no customers or a single outcome class.
    """
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    treated = np.asarray(treated, dtype=bool)
    churned = np.asarray(churned, dtype=int)
    for name, mask in (("treated", treated), ("control", ~treated)):
        if mask.sum() == 0 or len(np.unique(churned[mask])) < 2:
            raise ValueError(f"the {name} group needs customers who churned and customers who stayed")
    columns = [str(c) for c in X.columns]
    X = _prepare(X, columns)
    basis = _basis(X).fit(X)
    B = basis.transform(X)
    interaction = LogisticRegression(C=REGULARISATION_C, max_iter=5000).fit(
        _with_treatment(B, treated, interact=True), churned)
    # Weighted so that each arm counts as half: otherwise, with a small control group, the base
    # is the treated arm's churn model and the control arm's trees must learn the whole difference.
    share = treated.mean()
    weight = np.where(treated, 0.5 / share, 0.5 / (1 - share))
    shared_base = LogisticRegression(C=REGULARISATION_C, max_iter=5000).fit(
        _with_treatment(B, treated, interact=False), churned, sample_weight=weight)
    categories = {c: sorted(X[c].unique()) for c in columns if X[c].dtype == object}
    frame = _tree_frame(X, categories)
    corrections = {}
    for arm, mask in (("treated", treated), ("control", ~treated)):
        start = shared_base.decision_function(_with_treatment(B[mask], float(arm == "treated"), interact=False))
        data = lgb.Dataset(frame[mask], label=churned[mask], init_score=start, free_raw_data=False)
        corrections[arm] = lgb.train({**TREE_PARAMS, "seed": int(seed)}, data, num_boost_round=TREE_ROUNDS)
    return UpliftModel(columns, int(treated.sum()), int((~treated).sum()), trained_on, basis, interaction,
                       shared_base, corrections, categories)


def model_frame(X: pd.DataFrame, roles: dict[str, str], action_types) -> pd.DataFrame:
    """The uplift model's inputs: X's customer feature columns and the action type per row."""
    cols = [c for c in X.columns if roles.get(c) == "feature"]
    return X[cols].assign(action_type=pd.Series(list(action_types), index=X.index, dtype=object))


def targeting_score(effect: pd.Series, value: pd.Series | None = None) -> pd.Series:
    """Expected value kept by contacting each customer: effect x value (value 1 when None)."""
    if value is None:
        return effect.rename("score")
    v = pd.to_numeric(value.reindex(effect.index), errors="coerce").fillna(0.0).clip(lower=0.0)
    return (effect * v).rename("score")


def select(score: pd.Series, budget: int) -> pd.Index:
    """The `budget` customers with the highest positive score (ties by customer id)."""
    ranked = score[score > 0].sort_index().sort_values(ascending=False, kind="stable")
    return ranked.index[:max(0, int(budget))]


# --------------------------------------------------------------------------------------------
# from the store
# --------------------------------------------------------------------------------------------

def latest_experiment(con, before_run: str, min_control: int) -> str | None:
    """The newest run other than `before_run` whose actions have outcomes for at least
    `min_control` treated and `min_control` control customers; None if there is none."""
    if not db.table_exists(con, "outcomes"):
        return None
    row = con.execute(
        """SELECT a.run_id FROM actions a JOIN outcomes o ON o.run_id = a.run_id AND o.customer_id = a.customer_id
           LEFT JOIN runs r ON r.run_id = a.run_id WHERE a.run_id <> ?
           GROUP BY a.run_id HAVING count(*) FILTER (WHERE a.status = 'control') >= ?
                               AND count(*) FILTER (WHERE a.status <> 'control') >= ?
           ORDER BY max(r.started_at) DESC NULLS LAST, a.run_id DESC LIMIT 1""",
        [before_run, int(min_control), int(min_control)]).fetchone()
    return row[0] if row else None


def experiment_data(con, run_id: str) -> pd.DataFrame:
    """customer_id, treated, action_type, churned for the customers of a run's experiment that
    have an outcome (action_type: sent, or for the control group the one it would have been)."""
    return con.execute(
        """SELECT a.customer_id, a.status <> 'control' AS treated, a.action_type, o.churned::INTEGER AS churned
           FROM actions a JOIN outcomes o ON o.run_id = a.run_id AND o.customer_id = a.customer_id
           WHERE a.run_id = ? ORDER BY a.customer_id""", [run_id]).df()


def customer_values(con, column: str | None, customer_ids) -> pd.Series | None:
    """The value column of the customers table for these ids, or None (every customer worth 1)
    when no column is configured or the table has no such numeric column."""
    if not column:
        return None
    cols = {r[0]: r[1] for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'").fetchall()}
    if column not in cols:
        return None
    frame = con.execute(f"SELECT customer_id, {db.ident(column)} AS v FROM customers").df()
    values = pd.to_numeric(frame["v"], errors="coerce")
    return pd.Series(values.to_numpy(), index=frame["customer_id"].astype(str)).reindex(pd.Index(customer_ids).astype(str))
