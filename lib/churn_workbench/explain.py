"""Per-customer risk drivers: which features push this customer's churn risk up.

Method: a feature's contribution is the change in the model's log-odds when that feature is set
back to the reference customer's value (median of numbers, most frequent category, taken from
the training pool; `TrainedModel.reference`), all other features kept as they are:

    contribution_j(x) = f(x) - f(x with x_j := reference_j)

with f the uncalibrated classifier's log-odds. The calibrator is monotone, so a feature that
raises f never lowers the calibrated probability. A customer's drivers are the features with the
largest positive contributions; a customer at or below the reference on every feature has fewer
than k (possibly none). Names are the original column names (never one-hot names or values).

- Logistic regression: exact and additive, in closed form: the sum over feature j's encoded
  columns (value, missing indicator, one-hot block) of coef * (z - z_reference).
- Gradient boosting: occlusion, i.e. one extra prediction per (customer, feature). To keep 1M
  customers x 100+ features tractable, `top_drivers` first screens features by their main
  effect (a one-dimensional partial-dependence curve on a 200-row background sample, evaluated
  at the customer's value, minus its value at the reference), then computes the exact occlusion
  contribution of each customer's `k + SCREEN_EXTRA` best-screened features only, and ranks by
  that. On the synthetic data the top driver equals full occlusion's for ~97% of customers and
  the three picked carry ~95% of the exact top-three contribution; the misses are mostly
  features whose occlusion effect is an interaction with no main effect. `contributions` gives
  the exact occlusion matrix for every feature (slower). Predictions run in worker threads with
  single-threaded OpenMP each (see model._single_threaded for why).
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from .model import TrainedModel, base_estimator, encoded_groups, prepare

CHUNK_ROWS = 200_000
TASK_ROWS = 50_000
SCREEN_EXTRA = 3
BACKGROUND_ROWS = 200
GRID_POINTS = 32
EPSILON = 1e-9


def _workers() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(4, os.cpu_count() or 1))


def _decide(clf, tasks):
    """Run clf.decision_function on each task's array (built lazily by the task), in threads."""
    def run(task):
        with threadpool_limits(limits=1, user_api="openmp"):
            return clf.decision_function(task())
    workers = _workers()
    if workers == 1 or len(tasks) == 1:
        return [run(t) for t in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, tasks))


class _Encoded:
    """A model's encoded view of rows: the encoded matrix, the reference row, feature groups."""

    def __init__(self, model: TrainedModel):
        self.model = model
        self.prep = model.pipeline.named_steps["prep"]
        self.clf = base_estimator(model)
        self.groups = encoded_groups(model)
        self.linear = hasattr(self.clf, "coef_")
        ref = {c: [model.reference.get(c)] for c in model.feature_columns}
        self.z_ref = self._dense(self.transform(pd.DataFrame(ref))).ravel()

    def transform(self, X: pd.DataFrame):
        frame = prepare(X, self.model.numeric_columns, self.model.categorical_columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # unseen categories are expected
            return self.prep.transform(frame)

    @staticmethod
    def _dense(Z) -> np.ndarray:
        return np.asarray(Z.toarray() if sparse.issparse(Z) else Z, dtype=float)

    def linear_contributions(self, Z) -> np.ndarray:
        coef = self.clf.coef_.ravel()
        rows = np.concatenate(self.groups)
        cols = np.concatenate([np.full(len(g), j) for j, g in enumerate(self.groups)])
        weights = sparse.csr_matrix((coef[rows], (rows, cols)), shape=(len(coef), len(self.groups)))
        part = Z @ weights
        part = part.toarray() if sparse.issparse(part) else np.asarray(part)
        return part - np.asarray(weights.T @ self.z_ref).ravel()

    def differs(self, Z: np.ndarray, j: int) -> np.ndarray:
        cols = self.groups[j]
        sub, ref = Z[:, cols], self.z_ref[cols]
        return ~((sub == ref) | (np.isnan(sub) & np.isnan(ref))).all(axis=1)

    def occlusion(self, Z: np.ndarray, raw: np.ndarray, pairs: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """For each (feature j, rows): raw[rows] - f(Z[rows] with feature j set to the reference)."""
        tasks, owners = [], []
        for p, (j, rows) in enumerate(pairs):
            for start in range(0, len(rows), TASK_ROWS):
                piece = rows[start:start + TASK_ROWS]

                def task(piece=piece, cols=self.groups[j]):
                    Zs = Z[piece]
                    Zs[:, cols] = self.z_ref[cols]
                    return Zs
                tasks.append(task)
                owners.append((p, start, piece))
        out = [np.zeros(len(rows)) for _, rows in pairs]
        for (p, start, piece), occluded in zip(owners, _decide(self.clf, tasks)):
            out[p][start:start + len(piece)] = raw[piece] - occluded
        return out

    def raw(self, Z: np.ndarray) -> np.ndarray:
        pieces = [slice(s, s + TASK_ROWS) for s in range(0, len(Z), TASK_ROWS)]
        return np.concatenate(_decide(self.clf, [lambda sl=sl: Z[sl] for sl in pieces])) if len(Z) else np.zeros(0)

    def screen(self, Z: np.ndarray) -> np.ndarray:
        """Main-effect score per (row, feature): PD_j(x_j) - PD_j(reference_j) on a background sample."""
        rng = np.random.default_rng(0)
        background = Z[rng.choice(len(Z), size=min(BACKGROUND_ROWS, len(Z)), replace=False)]
        categorical = getattr(self.clf, "is_categorical_", None)
        grids = []
        for j, cols in enumerate(self.groups):
            c = cols[0]
            values = Z[:, c][~np.isnan(Z[:, c])]
            if categorical is not None and categorical[c]:
                grid = np.unique(values)
            else:
                grid = np.unique(np.quantile(values, np.linspace(0, 1, GRID_POINTS))) if len(values) else np.zeros(0)
            ref = self.z_ref[c]
            grid = np.unique(np.r_[grid, ref]) if not np.isnan(ref) else grid
            grids.append(np.r_[grid, np.nan])  # the last point: missing

        def stack(j, grid):
            def task():
                block = np.repeat(background[None, :, :], len(grid), axis=0)
                block[:, :, self.groups[j][0]] = grid[:, None]
                return block.reshape(-1, Z.shape[1])
            return task
        curves = _decide(self.clf, [stack(j, g) for j, g in enumerate(grids)])
        scores = np.zeros((len(Z), len(self.groups)))
        for j, (grid, curve) in enumerate(zip(grids, curves)):
            pd_values = curve.reshape(len(grid), -1).mean(axis=1)
            finite_grid, finite_pd, pd_missing = grid[:-1], pd_values[:-1], pd_values[-1]
            c = self.groups[j][0]
            x = Z[:, c]
            at = np.full(len(x), pd_missing)
            present = ~np.isnan(x)
            if len(finite_grid):
                at[present] = np.interp(x[present], finite_grid, finite_pd)
            ref = self.z_ref[c]
            ref_value = pd_missing if np.isnan(ref) else np.interp(ref, finite_grid, finite_pd)
            scores[:, j] = at - ref_value
        return scores


def contributions(model: TrainedModel, X: pd.DataFrame) -> pd.DataFrame:
    """Exact log-odds contribution of every feature for every row: (n_rows, n_features), X's index.

    Positive = this feature's value raises the customer's risk relative to the reference customer.
    For gradient boosting this costs one prediction per (row, feature); use `top_drivers` for
    large tables.
    """
    enc = _Encoded(model)
    out = np.zeros((len(X), len(enc.groups)))
    for start in range(0, len(X), CHUNK_ROWS):
        Z = enc.transform(X.iloc[start:start + CHUNK_ROWS])
        if enc.linear:
            out[start:start + Z.shape[0]] = enc.linear_contributions(Z)
            continue
        Z = enc._dense(Z)
        raw = enc.raw(Z)
        pairs = [(j, np.flatnonzero(enc.differs(Z, j))) for j in range(len(enc.groups))]
        block = out[start:start + len(Z)]
        for (j, rows), values in zip(pairs, enc.occlusion(Z, raw, pairs)):
            block[rows, j] = values
    return pd.DataFrame(out, index=X.index, columns=model.feature_columns)


def top_drivers(model: TrainedModel, X: pd.DataFrame, k: int = 3) -> list[list[str]]:
    """For each row of X, up to k feature names that most increase its churn risk (largest first).

    X: (n_rows, ...) DataFrame with the model's feature columns (matched by name; missing ones
    count as blank). Returns a list of n_rows lists of column names. Works in chunks of
    CHUNK_ROWS rows, so memory stays bounded for millions of customers.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    enc = _Encoded(model)
    names = np.array(model.feature_columns, dtype=object)
    n_features = len(names)
    k = min(k, n_features)
    result: list[list[str]] = []
    for start in range(0, len(X), CHUNK_ROWS):
        Z = enc.transform(X.iloc[start:start + CHUNK_ROWS])
        if enc.linear:
            contrib = enc.linear_contributions(Z)
            idx = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
            values = np.take_along_axis(contrib, idx, axis=1)
        else:
            Z = enc._dense(Z)
            n_cand = min(n_features, k + SCREEN_EXTRA)
            if n_cand < n_features:
                scores = enc.screen(Z)
                cand = np.argpartition(-scores, n_cand - 1, axis=1)[:, :n_cand]
            else:
                cand = np.tile(np.arange(n_features), (len(Z), 1))
            raw = enc.raw(Z)
            exact = np.zeros(cand.shape)
            pairs, where = [], []
            for j in range(n_features):
                r, slot = np.nonzero(cand == j)
                keep = enc.differs(Z[r], j) if len(r) else np.zeros(0, bool)
                pairs.append((j, r[keep]))
                where.append((r[keep], slot[keep]))
            for (r, slot), values in zip(where, enc.occlusion(Z, raw, pairs)):
                exact[r, slot] = values
            order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            idx = np.take_along_axis(cand, order, axis=1)
            values = np.take_along_axis(exact, order, axis=1)
        top = names[idx]
        positive = values > EPSILON
        if positive.all():
            result.extend(top.tolist())
        else:
            result.extend(list(t[m]) for t, m in zip(top, positive))
    return result
