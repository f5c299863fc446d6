"""Uplift: whom an action moves, learned from a run's randomised experiment and its outcomes.

Risk is the wrong target (Ascarza, "Retention Futility", 2018): the customers most likely to
leave are often the ones no offer keeps ("lost causes"), and some customers leave *because* they
were contacted ("sleeping dogs"). What matters is the effect of the action on the customer:
the drop in their churn probability if contacted.

The estimate starts from two models: one churn model fitted on the treated customers of an
experiment, one on its control customers, both on the same features as the churn model
("T-learner": effect = P(churn | control model) - P(churn | treated model)). Each is a logistic
regression on one-hot categories and spline-expanded numbers: with a few hundred customers per
arm a flexible learner (boosted trees) fits the noise of each arm, and the difference of two
noisy models is mostly noise. A second stage (the "X-learner", Kuenzel et al. 2019) then
smooths that difference: each customer's imputed effect (the other arm's model minus their own
outcome) is regressed on the features with a ridge penalty, per arm, and the two are averaged
weighted by the arm sizes. On the synthetic ground truth this ranks customers a few points
closer to the oracle than the two models alone (tests/test_uplift.py measures both).

The features are the customer's own feature columns (role "feature") plus the action type the
customer gets (or, in the control group, would have got): the effect depends on the offer. The
churn model's derived feedback features (counts, sentiment, a dozen sparse topic flags) are left
out: with a few hundred customers per arm every extra column adds noise to both arms, and on
the synthetic ground truth they cost more than they gave (Qini 0.64 -> 0.75 of the oracle's
when removed, one pipeline experiment of 1,157 customers).

Targeting then ranks customers by expected effect x value (a customer column named by the
setting WORKBENCH_VALUE_COLUMN, else 1 each) and contacts the best ones, never a customer with a
negative expected effect, with the same budget the risk rule would have used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from . import db

REGULARISATION_C = 0.1   # inverse L2 strength of each arm's logistic regression
SPLINE_KNOTS = 4
SMOOTHING_ALPHA = 30.0    # ridge penalty of the second (X-learner) stage


@dataclass
class UpliftModel:
    """A fitted two-model uplift estimate. `effect(X)` is in fractions of customers (0.1 = 10
    points less churn if contacted); `n_treated`/`n_control` are the customers each arm saw."""
    treated_model: object
    control_model: object
    columns: list[str]
    n_treated: int
    n_control: int
    trained_on: str = ""
    effect_treated: object = None   # second stage: imputed effects of the treated, regressed on X
    effect_control: object = None

    def two_model_effect(self, X: pd.DataFrame) -> pd.Series:
        """The first stage alone: P(churn | control model) - P(churn | treated model)."""
        X = _prepare(X, self.columns)
        p_control = self.control_model.predict_proba(X)[:, 1]
        p_treated = self.treated_model.predict_proba(X)[:, 1]
        return pd.Series(p_control - p_treated, index=X.index, name="uplift")

    def effect(self, X: pd.DataFrame) -> pd.Series:
        if self.effect_treated is None:
            return self.two_model_effect(X)
        X = _prepare(X, self.columns)
        share = self.n_treated / (self.n_treated + self.n_control)
        # Weighted towards the stage fitted on the *other* arm's model of the larger group.
        tau = share * self.effect_control.predict(X) + (1 - share) * self.effect_treated.predict(X)
        return pd.Series(tau, index=X.index, name="uplift")


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
    return ColumnTransformer(parts)


def _arm_model(X: pd.DataFrame, seed: int):
    return make_pipeline(_basis(X), LogisticRegression(C=REGULARISATION_C, max_iter=5000))


def fit(X: pd.DataFrame, treated, churned, seed: int = 0, trained_on: str = "") -> UpliftModel:
    """Fit the two arms. X: features indexed by customer id; treated: bool per row; churned: 0/1.

    Raises ValueError if an arm has no customers or a single outcome class.
    """
    treated = np.asarray(treated, dtype=bool)
    churned = np.asarray(churned, dtype=int)
    columns = [str(c) for c in X.columns]
    X = _prepare(X, columns)
    arms = {}
    for name, mask in (("treated", treated), ("control", ~treated)):
        if mask.sum() == 0 or len(np.unique(churned[mask])) < 2:
            raise ValueError(f"the {name} group needs customers who churned and customers who stayed")
        arms[name] = _arm_model(X[mask], seed).fit(X[mask], churned[mask])
    # Imputed individual effects (reduction in churn): for a treated customer the control model's
    # churn minus what they did; for a control customer what they did minus the treated model's.
    imputed = np.where(treated, arms["control"].predict_proba(X)[:, 1] - churned,
                       churned - arms["treated"].predict_proba(X)[:, 1])
    stage2 = {name: make_pipeline(_basis(X[mask]), Ridge(alpha=SMOOTHING_ALPHA)).fit(X[mask], imputed[mask])
              for name, mask in (("treated", treated), ("control", ~treated))}
    return UpliftModel(arms["treated"], arms["control"], columns, int(treated.sum()), int((~treated).sum()), trained_on,
                       stage2["treated"], stage2["control"])


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
