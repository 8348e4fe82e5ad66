"""Offline check of early cycle-life prediction and early stopping.

Two sources of cells:

* ``--synthetic SEEDS``: the seeded synthetic fade curves of ``tests/test_prediction.py``
  (30 training, 30 held-out cells per seed), to see how robust the test's numbers are;
* ``--bdf GLOB``: finished BDF files (e.g. a campaign's ``runs/<name>/bdf/*.bdf.csv``),
  evaluated by k-fold cross-validation over cells.

For each held-out cell it reports the median |log error| of the predicted cycle life (and of
the "predict the training median" baseline), the coverage of the 90 % intervals, and what an
:class:`~optloop.prediction.EarlyStoppingPolicy` (reference: the median of the training lives)
would stop: wrong stops (true life >= reference) and channel-cycles saved.

    .venv/bin/python experiments/early_prediction_offline.py --synthetic 11 12 13 14 15
    .venv/bin/python experiments/early_prediction_offline.py --bdf 'runs/x/bdf/*.bdf.csv'
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

from optloop.data import compute_metrics, read_bdf
from optloop.prediction import (
    CycleLifeExample,
    CycleLifePredictor,
    EarlyStoppingPolicy,
    NotReadyError,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def evaluate(
    train: list[CycleLifeExample], test: list[CycleLifeExample], n_cycles: int
) -> dict[str, float]:
    t0 = time.perf_counter()
    model = CycleLifePredictor(n_cycles, seed=0).fit(train)
    fit_s = time.perf_counter() - t0
    policy = EarlyStoppingPolicy(n_cycles, reference_quantile=0.5, min_completed=1)
    completed = [ex.cycle_life for ex in train]
    reference = policy.reference(completed) or 0.0
    baseline = float(np.median(np.log(completed)))
    errors, base_errors, covered = [], [], []
    stops = wrong = 0
    saved = total = 0.0
    for ex in test:
        p = model.predict(ex.capacity_Ah[:n_cycles], ex.coulombic_efficiency[:n_cycles])
        total += ex.cycle_life
        if p.known:
            continue
        if not ex.censored:
            errors.append(abs(np.log(p.mean_cycles / ex.cycle_life)))
            base_errors.append(abs(np.log(ex.cycle_life) - baseline))
            covered.append(p.lower_cycles <= ex.cycle_life <= p.upper_cycles)
        if policy.decide(p, reference).stop:
            stops += 1
            wrong += ex.cycle_life >= reference
            saved += ex.cycle_life - n_cycles
    return {
        "n_train": model.n_train,
        "n_test": len(errors),
        "median_abs_log_error": float(np.median(errors)),
        "baseline_median_abs_log_error": float(np.median(base_errors)),
        "coverage_90": float(np.mean(covered)),
        "std_inflation": model.std_inflation,
        "reference_cycles": reference,
        "stopped": stops,
        "wrong_stops": int(wrong),
        "channel_cycles_saved_fraction": saved / total if total else 0.0,
        "fit_s": fit_s,
    }


def synthetic(seeds: list[int], n_cycles: int) -> list[dict[str, float]]:
    import test_prediction as tp  # the test's generator, so both measure the same cells

    rows = []
    for seed in seeds:
        cells = tp.make_cells(seed, 60)
        ex = [CycleLifeExample(q, ce, life, False) for q, ce, life in cells]
        rows.append({"seed": seed, **evaluate(ex[:30], ex[30:], n_cycles)})
    return rows


def from_bdf(pattern: str, n_cycles: int, folds: int) -> list[dict[str, float]]:
    examples = []
    for path in sorted(glob.glob(pattern)):
        frame, meta = read_bdf(path)
        m = compute_metrics(frame, cell=meta.get("cell", "full"), source=path)
        if m.cycles_completed >= n_cycles or not m.cycle_life_censored:
            examples.append(CycleLifeExample.from_metrics(m))
    print(f"{len(examples)} cells from {pattern}", file=sys.stderr)
    order = np.random.default_rng(0).permutation(len(examples))
    rows = []
    for k, fold in enumerate(np.array_split(order, folds)):
        test = [examples[i] for i in fold]
        train = [examples[i] for i in order if i not in set(fold)]
        try:
            rows.append({"fold": k, **evaluate(train, test, n_cycles)})
        except NotReadyError as err:  # e.g. almost every training life censored
            print(f"fold {k}: not ready: {err}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic", type=int, nargs="*", help="seeds of synthetic cells")
    parser.add_argument("--bdf", help="glob of finished BDF files")
    parser.add_argument("--n-cycles", type=int, default=25)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    rows = (
        from_bdf(args.bdf, args.n_cycles, args.folds)
        if args.bdf
        else synthetic(args.synthetic or [11, 12, 13, 14, 15], args.n_cycles)
    )
    for row in rows:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    main()
