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

from .features import suggest_sensitive
from .model import DataContract, TrainedModel, expected_calibration_error
from .segments import assign_segments, segment_lift

AGE_BANDS = ((0, 30, "<30"), (30, 45, "30-44"), (45, 60, "45-59"), (60, math.inf, "60+"))
MIN_BAND_ROWS_FOR_AUC = 30

ALGORITHM_NAMES = {
    "logistic_regression": "Regularised logistic regression (L2) on standardised numbers and one-hot categories",
    "lightgbm": "LightGBM tuned for small tables (shallow trees, large leaves, native categories, early stopping)",
    "catboost": "CatBoost (symmetric trees, categories by ordered target statistics, early stopping)",
    "blend": "Blend of the components below (weighted sum of their log-odds)",
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
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC, out-of-fold predictions",
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
           title="Calibration, out-of-fold predictions", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    _save(fig, path)
    return path


def _is_age_like(name: str) -> bool:
    n = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    return n == "age" or n.startswith("age_") or n.endswith("_age") or n == "age_years"


def performance_by_group(model: TrainedModel, column: str, values: pd.Series) -> pd.DataFrame | None:
    """Out-of-fold performance per group of `values` (indexed by customer id): rows, churn rate,
    mean predicted, ROC-AUC (groups of at least MIN_BAND_ROWS_FOR_AUC rows with both classes),
    ECE and Brier. Numbers that look like ages are banded (<30, 30-44, 45-59, 60+); other
    columns use their 10 most frequent values. None without evaluated rows."""
    evaluated = model.oof
    if evaluated is None or len(evaluated) == 0:
        return None
    values = values.reindex(evaluated.index)
    numeric = pd.to_numeric(values, errors="coerce")
    if _is_age_like(column) and numeric.notna().mean() > 0.5:
        group = pd.Series("unknown", index=evaluated.index, dtype=object)
        for low, high, label in AGE_BANDS:
            group[(numeric >= low) & (numeric < high)] = label
        order = [b[2] for b in AGE_BANDS] + ["unknown"]
    else:
        text = values.astype(object).where(values.notna(), "unknown").astype(str)
        top = text.value_counts().index[:10]
        group = text.where(text.isin(top), "other")
        order = list(top) + ["other"]
    out = []
    for name in order:
        m = (group == name).to_numpy()
        if not m.any():
            continue
        y = evaluated["label"].to_numpy()[m]
        p = evaluated["probability"].to_numpy()[m]
        auc = roc_auc_score(y, p) if len(np.unique(y)) == 2 and m.sum() >= MIN_BAND_ROWS_FOR_AUC else float("nan")
        out.append({"group": name, "rows": int(m.sum()), "churn_rate": float(y.mean()),
                     "mean_predicted": float(p.mean()), "roc_auc": float(auc),
                     "ece": expected_calibration_error(y, p, bins=min(10, max(1, int(m.sum()) // 30))),
                     "brier": float(brier_score_loss(y, p, labels=[0, 1]))})
    return pd.DataFrame(out)


def _group_columns(model: TrainedModel, sensitive: pd.DataFrame | None) -> dict[str, pd.Series]:
    """The sensitive columns to report: declared ones, else features whose names suggest one."""
    if sensitive is not None and len(sensitive.columns):
        return {c: sensitive[c] for c in sensitive.columns}
    if model.oof is None:
        return {}
    candidates = [c for c in model.oof.columns if c not in ("label", "probability")]
    return {c: model.oof[c] for c in suggest_sensitive(candidates)}


def write_model_card(model: TrainedModel, directory: str | Path, model_version: str, data_summary: dict,
                     sensitive: pd.DataFrame | None = None, gate: dict | None = None,
                     segment_shares: tuple[float, float] = (0.10, 0.20), contract: DataContract | None = None,
                     new_line: bool = False) -> Path:
    """Write model_card.md, model_card_roc.png and model_card_calibration.png into `directory`.

    model_version: the artefact's sha256. data_summary: facts about the input (rendered as a
    table). sensitive: the sensitive columns' values indexed by customer id (per-group
    performance; without it, features whose names suggest a sensitive attribute are used).
    gate: the quality gate's decision ({"promoted", "reason", "decision": the one line that says
    which model is deployed, why and with what interval}). segment_shares: (high, medium) shares
    used to show the lift per segment on the evaluated customers. contract: the data contract the
    model belongs to; new_line: no model of that contract was deployed before.
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
        "- Components: " + ", ".join(f"{k} (weight {v:g})" for k, v in (model.weights or {}).items()),
        f"- Probability calibration: {s.get('calibration')} (chosen on out-of-fold scores, see below)",
        f"- Trained at: {s.get('trained_at')} (scikit-learn {s.get('sklearn_version')}, "
        f"LightGBM {s.get('lightgbm_version')}, CatBoost {s.get('catboost_version')}, seed {s.get('seed')})",
        "- Quality gate: " + (("promoted" if gate.get("promoted") else "**NOT promoted**") + f": {gate.get('reason')}"
                              if gate else "not evaluated"),
        *([f"- Deployment: {gate['decision']}"] if gate and gate.get("decision") else []),
        *([f"- Data contract: `{contract.contract_id[:12]}` ({contract.describe()}); "
           + ("**a new model line**: no model of this contract was deployed before" if new_line
              else "continues the model line of this contract")] if contract else []),
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
        "- Out-of-fold metrics describe customers like those in the file. Groups with few rows",
        "  (see the performance table) are estimated less reliably.",
        "- Risk drivers are the features that raise this model's score relative to a typical",
        "  customer, not reasons the customer gave.",
        "- Identifier columns (names, e-mails, phones, ...) are never features; sensitive columns",
        "  (gender, age, ... as declared in the data config) are not features and never drivers.",
        "",
        "## Data used",
        "",
    ]
    facts = dict(data_summary or {})
    facts.update({
        "labelled rows": s.get("rows_labelled"), "unlabelled rows passed to training (ignored)": s.get("rows_unlabelled_ignored"),
        "final fit rows": f"{s.get('rows_train')}" + (" (stratified random subsample)" if s.get("train_subsampled") else ""),
        "rows evaluated out-of-fold": s.get("rows_evaluated"),
        "churn rate (labelled)": _fmt(s.get("label_rate")),
        "trained at": s.get("trained_at"),
    })
    lines += _table(["item", "value"], [[k, _fmt(v) if isinstance(v, float) else v] for k, v in facts.items()])
    lines += ["", "## Features", ""]
    lines += [f"- Numeric ({len(model.numeric_columns)}): " + (", ".join(f"`{c}`" for c in model.numeric_columns) or "none")]
    lines += [f"- Categorical ({len(model.categorical_columns)}): " + (", ".join(f"`{c}`" for c in model.categorical_columns) or "none")]
    dropped = s.get("dropped_columns") or {}
    if dropped:
        lines += ["- Dropped before training: " + "; ".join(f"`{c}` ({why})" for c, why in dropped.items())]
    lines += ["", "### Leakage guard", ""]
    lines += [f"- {line}" for line in s.get("leakage_warnings") or []] or [
        "No column looked like leakage (id-like, a label look-alike or a single-column oracle)."]
    lines += ["", "## Model selection", "",
              f"Candidates compared by {next(iter(model.candidates.values()), {}).get('cv_folds', '?')}-fold "
              "stratified cross-validation on the training rows; " + str(s.get("selection", "")) + ".", ""]
    lines += _table(["candidate", "CV ROC-AUC (mean ± sd)", "per fold", "rounds", "seconds", "chosen"], [
        [a, f"{_fmt(c.get('cv_roc_auc_mean'), 4)} ± {_fmt(c.get('cv_roc_auc_std'), 4)}",
         " / ".join(_fmt(v, 3) for v in c.get("cv_roc_auc_folds") or []), c.get("rounds", ""),
         _fmt(c.get("seconds"), 1) if c.get("seconds") is not None else "", "yes" if c.get("chosen") else ""]
        for a, c in model.candidates.items()])
    lgb_entry = model.candidates.get("lightgbm", {})
    if lgb_entry.get("configs_tried"):
        lines += ["", "LightGBM configurations tried (the best out-of-fold log loss is LightGBM's entry): "
                  + "; ".join(f"{c['num_leaves']} leaves, {c['rounds']} rounds, log loss {_fmt(c['cv_log_loss'], 5)}"
                              for c in lgb_entry["configs_tried"]) + "."]
    finals = [f"{name} {s.get(key)} rounds" for name, key in (("LightGBM", "lightgbm_rounds_final"),
                                                               ("CatBoost", "catboost_rounds_final")) if s.get(key)]
    if finals:
        lines += ["", "Final fit: " + ", ".join(finals) + " (the shared early-stopping round of the folds, scaled "
                  "to the final fit's rows)."]
    evidence = s.get("calibration_evidence") or {}
    if evidence:
        lines += ["", "### Calibration choice", "",
                  f"Out-of-fold log loss per method ({evidence.get('positives')} positives): "
                  + ", ".join(f"{k} {_fmt(v, 5)}" for k, v in (evidence.get("cv_log_loss") or {}).items())
                  + f"; chosen: **{s.get('calibration')}**. Rule: {evidence.get('rule')}."]
    lines += ["", "## Out-of-fold performance (the evidence)", "",
              f"On {m.get('evaluation_rows')} labelled customers (churn rate {_fmt(m.get('base_rate'))}), each scored "
              f"by a model fitted without them ({s.get('folds')}-fold cross-validation"
              + ("; in each fold the whole procedure -- comparison, choice, tuning, calibration -- ran on the other "
                 "folds only" if s.get("nested_evaluation") else "; each fold's probabilities calibrated by a map "
                 "fitted on the other folds") + "); 95% CIs from a "
              f"{m.get('bootstrap_replicates', '')}-replicate percentile bootstrap. The deployed model is then fitted "
              "on all training rows.", "",
              f"Evidence for the quality gate: {m.get('evidence')}: **{_ci(m, 'gate_roc_auc')}**. The chosen "
              f"candidate's own out-of-fold ROC-AUC was {_fmt(m.get('roc_auc_chosen_candidate'))}; choosing the best of "
              f"{m.get('candidates_compared')} candidates and configurations on the same rows flatters it by about "
              f"{_fmt(m.get('selection_optimism'), 3)}.", ""]
    lines += _table(["metric", "value"], [
        ["ROC-AUC", _ci(m, "roc_auc")], ["ROC-AUC weighed by the quality gate", _ci(m, "gate_roc_auc")],
        ["PR-AUC (average precision)", _ci(m, "pr_auc")],
        ["Brier score (lower is better)", _ci(m, "brier")], ["Log loss", _fmt(m.get("log_loss"))],
        ["Expected calibration error (10 equal-count bins)", _fmt(m.get("ece"), 4)],
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

    lines += ["", "## Lift by segment", ""]
    if model.oof is not None and len(model.oof):
        h = model.oof
        seg = assign_segments(pd.Series(h["probability"].to_numpy(), index=h.index), None,
                              high_share=segment_shares[0], medium_share=segment_shares[1])
        lift = segment_lift(h["label"].to_numpy(), h["probability"].to_numpy(), seg.to_numpy())
        lines += [f"Segments rank customers by expected loss: High = top {segment_shares[0]:.0%}, Medium = next "
                  f"{segment_shares[1]:.0%} (here by probability alone, on the out-of-fold predictions).", ""]
        lines += _table(["segment", "rows", "churn rate", "mean predicted", "lift", "share of churners"], [
            [r.segment, r.rows, _fmt(r.churn_rate), _fmt(r.mean_predicted), _fmt(r.lift, 2), _fmt(r.share_of_churners)]
            for r in lift.itertuples()])
    else:
        lines += ["Not available (the out-of-fold rows are only kept in memory at training time)."]
    lines += ["", "## Performance by group", ""]
    groups = _group_columns(model, sensitive)
    if model.oof is None:
        lines += ["Not available: the out-of-fold rows are only kept in memory at training time."]
    elif not groups:
        lines += ["Not available: no sensitive column is declared (data config `sensitive_columns`) and no "
                  "feature name suggests one."]
    for column, values in groups.items():
        table = performance_by_group(model, column, values)
        used = "not a feature" if column not in model.feature_columns else "a feature (allowed by the data config)"
        lines += [f"### `{column}` ({used})", "",
                  "Large gaps in calibration (mean predicted vs churn rate, ECE) or ROC-AUC between groups "
                  "should be reviewed before the scores are used for that group.", ""]
        lines += _table(["group", "rows", "churn rate", "mean predicted", "ROC-AUC", "ECE", "Brier"], [
            [r.group, r.rows, _fmt(r.churn_rate), _fmt(r.mean_predicted), _fmt(r.roc_auc), _fmt(r.ece), _fmt(r.brier)]
            for r in table.itertuples()])
        lines += [""]
    lines += [
        "", "## Control group", "",
        "A fixed share of the customers who would be contacted is held out at random (a keyed hash of",
        "the customer id, so membership is reproducible and independent of row order) and receives no",
        "retention action. Comparing churn between contacted and held-out customers of the same",
        "segment measures the retention effect of the actions; without it, a falling churn rate",
        "among contacted customers cannot be told apart from regression to the mean.",
        "", "## Explanations", "",
        "Each scored customer's top-3 risk drivers are the columns whose values raise the model's",
        "log-odds most relative to the population (Shapley values: TreeSHAP for LightGBM, exact",
        "linear Shapley values for the logistic regression, their weighted sum for a blend), one",
        "value per original column. Sensitive columns are never drivers.",
        "",
    ]
    path = directory / "model_card.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
