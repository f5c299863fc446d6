"""Uplift estimator vs the oracle on the synthetic ground truth, seed by seed.

Runs the library test's setting (tests/test_uplift.py: 2,000 customers, 60% in the experiment)
for a range of seeds, once with balanced arms (half held out) and once with a small control arm
(10-20% held out, as in an everyday run), and prints each seed's Qini coefficient as a share of
the oracle's (the ranking by the generator's true effect), then min / median / mean.

    PYTHONPATH=lib .venv/bin/python bench/uplift_bench.py [--first 1] [--seeds 20] [--n 2000]

Columns: the estimate (`effect`), then its parts where the model has them (`two_model_effect`,
`interaction_effect`). One process, one thread: about a second per seed and setting.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from churn_workbench import effect, synthetic, uplift

FEATURES = ["age", "region", "plan", "contract", "payment_method", "autopay", "tenure_months", "monthly_charges",
            "complaints_90d", "days_since_last_activity", "data_usage_gb", "num_products"]
PARTS = ("effect", "two_model_effect", "interaction_effect")


def ratio(score, truth) -> float:
    return effect.qini_coefficient(effect.gain_curve(score, truth)) / effect.qini_coefficient(effect.gain_curve(truth, truth))


def one(seed: int, n: int, control_share: float) -> dict[str, float]:
    data = synthetic.generate(n, seed)
    c = data.customers
    rng = np.random.default_rng(seed)
    exp = c.sample(frac=0.6, random_state=seed)
    treated = rng.random(len(exp)) >= control_share
    # The outcomes draw from a stream of their own (see tests/test_uplift.py).
    sim = synthetic.simulate_outcomes(data, pd.DataFrame({"customer_id": exp["customer_id"], "treated": treated,
                                                          "action_type": "discount"}), 10_000 + seed)
    X = c.set_index("customer_id")[FEATURES]
    model = uplift.fit(X.loc[sim.frame["customer_id"]], sim.frame["treated"], sim.frame["churned"])
    truth = synthetic.true_effect_of(data, X.index).to_numpy()
    return {part: ratio(getattr(model, part)(X).to_numpy(), truth) for part in PARTS if hasattr(model, part)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    seeds = range(args.first, args.first + args.seeds)
    for label, share_of in (("balanced (50% control)", lambda s: 0.5),
                            ("unbalanced (10-20% control)", lambda s: 0.10 + 0.10 * ((s - 1) % 5) / 4)):
        rows, seconds = [], []
        print(label)
        for seed in seeds:
            t0 = time.perf_counter()
            rows.append(one(seed, args.n, share_of(seed)))
            seconds.append(time.perf_counter() - t0)
            parts = "  ".join(f"{k} {v:.3f}" for k, v in rows[-1].items())
            print(f"  seed {seed:2d} control {share_of(seed):5.1%}: {parts}  ({seconds[-1]:.1f}s)", flush=True)
        for part in rows[0]:
            r = np.array([row[part] for row in rows])
            print(f"  {part:18s} min {r.min():.3f}  median {np.median(r):.3f}  mean {r.mean():.3f}  max {r.max():.3f}  "
                  f"below 0.80: {int((r < 0.8).sum())} of {len(r)}")
        print(f"  {np.mean(seconds):.1f}s per seed (data generation included)")


if __name__ == "__main__":
    main()
