"""A model card (markdown) with ROC and calibration plots, written next to the model artefact.

Plots use matplotlib's object API with the Agg canvas (no pyplot), so writing a card from a
notebook never changes the notebook's plotting backend.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import brier_score_loss, roc_auc_score

from .model import TrainedModel

AGE_BANDS = ((0, 30, "<30"), (30, 45, "30-44"), (45, 60, "45-59"), (60, math.inf, "60+"))
MIN_BAND_ROWS_FOR_AUC = 30

ALGORITHM_NAMES = {
    "logistic_regression": "Regularised logistic regression (L2, C=1) on standardised numbers and one-hot categories",
    "hist_gradient_boosting": "Histogram gradient boosting (native missing values and categories, early stopping)",
}


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(metrics: dict, name: str) -> str:
    low, high = metrics.get(f"{name}_ci95", [None, None])
    return f"{_fmt(metrics.get(name))} (95% CI {_fmt(low)} to {_fmt(high)})"


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_roc(model: TrainedModel, path: Path) -> Path:
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    roc = model.curves["roc"]
    ax.plot(roc["fpr"], roc["tpr"], lw=2, label=f"model (AUC {_fmt(model.metrics.get('roc_auc'))})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="random")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC, held-out customers",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    _save(fig, path)
    return path


def plot_calibration(model: TrainedModel, path: Path) -> Path:
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    bins = model.curves["calibration"]
    predicted = [b["mean_predicted"] for b in bins]
    observed = [b["observed_rate"] for b in bins]
    top = max([*predicted, *observed, 0.05]) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.plot(predicted, observed, marker="o", lw=2, label="model (quantile bins)")
    ax.set(xlabel="Mean predicted churn probability", ylabel="Observed churn rate",
           title="Calibration, held-out customers", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    _save(fig, path)
    return path


def _is_age_like(name: str) -> bool:
    n = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    return n == "age" or n.startswith("age_") or n.endswith("_age") or n == "age_years"


def performance_by_group(model: TrainedModel, sensitive_column: str | None = "age",
                         sensitive_values: pd.Series | None = None) -> tuple[str | None, pd.DataFrame | None]:
    """(column used, table of held-out performance per band/category) or (None, None).

    Uses `sensitive_values` (indexed by customer id) when given, else the held-out rows' column
    `sensitive_column`, else any age-like feature. Numbers that look like ages are banded
    (<30, 30-44, 45-59, 60+); other columns use their 10 most frequent values.
    """
    holdout = model.holdout
    if holdout is None or len(holdout) == 0:
        return None, None
    if sensitive_values is not None:
        column = sensitive_values.name or sensitive_column or "group"
        values = sensitive_values.reindex(holdout.index)
    else:
        candidates = [c for c in holdout.columns if c not in ("label", "probability")]
        column = sensitive_column if sensitive_column in candidates else next(
            (c for c in candidates if _is_age_like(c)), None)
        if column is None:
            return None, None
        values = holdout[column]
    numeric = pd.to_numeric(values, errors="coerce")
    if _is_age_like(column) and numeric.notna().mean() > 0.5:
        group = pd.Series("unknown", index=holdout.index, dtype=object)
        for low, high, label in AGE_BANDS:
            group[(numeric >= low) & (numeric < high)] = label
        order = [b[2] for b in AGE_BANDS] + ["unknown"]
    else:
        text = values.astype(object).where(values.notna(), "unknown").astype(str)
        top = text.value_counts().index[:10]
        group = text.where(text.isin(top), "other")
        order = list(top) + ["other"]
    rows = []
    for name in order:
        m = (group == name).to_numpy()
        if not m.any():
            continue
        y = holdout["label"].to_numpy()[m]
        p = holdout["probability"].to_numpy()[m]
        auc = roc_auc_score(y, p) if len(np.unique(y)) == 2 and m.sum() >= MIN_BAND_ROWS_FOR_AUC else float("nan")
        rows.append({"group": name, "rows": int(m.sum()), "churn_rate": float(y.mean()),
                     "mean_predicted": float(p.mean()), "roc_auc": float(auc),
                     "brier": float(brier_score_loss(y, p, labels=[0, 1]))})
    return column, pd.DataFrame(rows)


def write_model_card(model: TrainedModel, directory: str | Path, model_version: str, data_summary: dict,
                     sensitive_column: str | None = "age", sensitive_values: pd.Series | None = None) -> Path:
    """Write model_card.md, model_card_roc.png and model_card_calibration.png into `directory`.

    model_version: the artefact's sha256 (as registered). data_summary: facts about the input
    (source file, rows, run id, ...), rendered as a table. sensitive_column / sensitive_values:
    see `performance_by_group`. Returns the markdown path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    roc_png = plot_roc(model, directory / "model_card_roc.png")
    cal_png = plot_calibration(model, directory / "model_card_calibration.png")
    m, s = model.metrics, model.train_summary
    lines = [
        f"# Churn model card: `{model_version[:12]}`",
        "",
        f"- Model version (sha256 of the artefact): `{model_version}`",
        f"- Algorithm: {ALGORITHM_NAMES.get(model.algorithm, model.algorithm)}",
        f"- Probability calibration: {s.get('calibration')} (out-of-fold, `CalibratedClassifierCV`)",
        f"- Trained at: {s.get('trained_at')} (scikit-learn {s.get('sklearn_version')}, seed {s.get('seed')})",
        f"- Card written at: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        "",
        "## Intended use",
        "",
        "Rank the organisation's own customers by their probability of churning so that retention",
        "offers go to those most at risk. The probability is an input to a person's or a policy's",
        "decision about an offer; it is not a decision about the customer by itself. Only customers",
        "whose consent register allows profiling are scored, and only customers with marketing",
        "consent receive an action.",
        "",
        "## Limits",
        "",
        "- It learns from past labels in the input file: if the reasons customers leave change",
        "  (prices, competitors, a product change), it will be wrong until it is retrained.",
        "- It predicts; it does not say what *causes* churn, and it does not say whether an offer",
        "  will change the outcome. The control group (below) exists to measure that.",
        "- Held-out metrics describe customers like those in the file. Groups with few rows",
        "  (see the performance table) are estimated less reliably.",
        "- Risk drivers are the features that raise this model's score relative to a typical",
        "  customer, not reasons the customer gave.",
        "- Identifier columns (names, e-mails, phones, ...) are never features.",
        "",
        "## Data used",
        "",
    ]
    facts = dict(data_summary or {})
    facts.update({
        "labelled rows": s.get("rows_labelled"), "unlabelled rows passed to training (ignored)": s.get("rows_unlabelled_ignored"),
        "training rows": f"{s.get('rows_train')}" + (" (stratified random subsample)" if s.get("train_subsampled") else ""),
        "held-out rows": s.get("rows_holdout"), "churn rate (labelled)": _fmt(s.get("label_rate")),
        "trained at": s.get("trained_at"),
    })
    lines += _table(["item", "value"], [[k, _fmt(v) if isinstance(v, float) else v] for k, v in facts.items()])
    lines += ["", "## Features", ""]
    lines += [f"- Numeric ({len(model.numeric_columns)}): " + (", ".join(f"`{c}`" for c in model.numeric_columns) or "none")]
    lines += [f"- Categorical ({len(model.categorical_columns)}): " + (", ".join(f"`{c}`" for c in model.categorical_columns) or "none")]
    dropped = s.get("dropped_columns") or {}
    if dropped:
        lines += ["- Dropped before training: " + "; ".join(f"`{c}` ({why})" for c, why in dropped.items())]
    lines += ["", "## Model selection", "",
              f"Candidates compared by {next(iter(model.candidates.values()), {}).get('cv_folds', '?')}-fold "
              "stratified cross-validation on the training rows; " + str(s.get("selection", "")) + ".", ""]
    lines += _table(["algorithm", "CV ROC-AUC (mean ± sd)", "CV PR-AUC", "CV Brier", "chosen"], [
        [a, f"{_fmt(c.get('cv_roc_auc_mean'))} ± {_fmt(c.get('cv_roc_auc_std'))}", _fmt(c.get("cv_pr_auc_mean")),
         _fmt(c.get("cv_brier_mean")), "yes" if c.get("chosen") else ""] for a, c in model.candidates.items()])
    lines += ["", "## Held-out performance", "",
              f"On {m.get('holdout_rows')} held-out customers never used for fitting, selection or calibration "
              f"(churn rate {_fmt(m.get('base_rate'))}); 95% CIs from a {m.get('bootstrap_replicates', '')}-replicate "
              "percentile bootstrap of the held-out rows.", ""]
    lines += _table(["metric", "value"], [
        ["ROC-AUC", _ci(m, "roc_auc")], ["PR-AUC (average precision)", _ci(m, "pr_auc")],
        ["Brier score (lower is better)", _ci(m, "brier")], ["Log loss", _fmt(m.get("log_loss"))],
        ["Lift in the top decile", _fmt(m.get("lift_top_decile"), 2)],
        ["Churners caught in the top 10% / 20%", f"{_fmt(m.get('capture_top_decile'))} / {_fmt(m.get('capture_top_2_deciles'))}"],
    ])
    lines += ["", f"![ROC curve]({roc_png.name}) ![Calibration curve]({cal_png.name})", "", "### Lift by decile", ""]
    lines += _table(["decile (1 = highest risk)", "rows", "churn rate", "lift", "cumulative share of churners"], [
        [d["decile"], d["rows"], _fmt(d["churn_rate"]), _fmt(d["lift"], 2), _fmt(d["cumulative_capture"])]
        for d in model.curves.get("lift", [])])
    lines += ["", "### Calibration bins", ""]
    lines += _table(["bin", "rows", "mean predicted", "observed churn rate"], [
        [b["bin"] + 1, b["rows"], _fmt(b["mean_predicted"]), _fmt(b["observed_rate"])]
        for b in model.curves.get("calibration", [])])

    column, table = performance_by_group(model, sensitive_column, sensitive_values)
    lines += ["", "## Performance by group", ""]
    if table is None:
        lines += ["Not available: no age-like column among the held-out rows"
                  + (" (the held-out rows are only kept in memory at training time)." if model.holdout is None else ".")]
    else:
        lines += [f"Held-out performance by `{column}`. Large gaps in calibration (mean predicted vs churn rate) or "
                  "ROC-AUC between groups should be reviewed before the scores are used for that group.", ""]
        lines += _table(["group", "rows", "churn rate", "mean predicted", "ROC-AUC", "Brier"], [
            [r.group, r.rows, _fmt(r.churn_rate), _fmt(r.mean_predicted), _fmt(r.roc_auc), _fmt(r.brier)]
            for r in table.itertuples()])
    lines += [
        "", "## Control group", "",
        "A fixed share of the customers who would be contacted is held out at random (a keyed hash of",
        "the customer id, so membership is reproducible and independent of row order) and receives no",
        "retention action. Comparing churn between contacted and held-out customers of the same",
        "segment measures the retention effect of the actions; without it, a falling churn rate",
        "among contacted customers cannot be told apart from regression to the mean.",
        "", "## Explanations", "",
        "Each scored customer's top-3 risk drivers are the features whose value raises the model's",
        "log-odds most relative to the reference customer (median / most frequent value of each",
        "feature): exact per-feature contributions for the logistic regression, per-feature",
        "occlusion for gradient boosting.",
        "",
    ]
    path = directory / "model_card.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
