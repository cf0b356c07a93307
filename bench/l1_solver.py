"""L1 classifier benchmark: the pflip model's L1 logistic fit alone, on a design matrix saved by
``bench/pflip_fit.py --save-design``, with each working-set inner solver in its own process.

Usage::

    .venv/bin/python bench/pflip_fit.py DATA --checkpoint CKPT --post-fraction 0.25 \\
        --solver working_set --lean --repeat 1 --save-design out/l1/design25.pkl
    .venv/bin/python bench/l1_solver.py out/l1/design25.pkl [--inner liblinear newton] [--tol 1e-6] \\
        [--set-dtype float64 float32]

Per inner solver: the fit's wall seconds, its peak resident memory above the loaded design
(``VmHWM``), the rounds (columns, non-zeros, violation left, seconds), the objective
``‖w‖₁ + |b| + C Σ log(1 + e^{−y m})`` and the summed optimality violation over every column at
the result (relative to its value at zero: the stopping rule is ``≤ tol``); then the largest
difference of the training decision values between the solvers (both solve the same strictly
convex problem in the margins, so it says how far from each other their stopping points are).
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import proc_status_gib, reset_peak  # noqa: E402


def _one(design: Path, inner: str, tol: float, out: Path, c_scale: float = 1.0, set_dtype: str = "auto") -> dict:
    import numpy as np

    from cnlab.models.l1_logistic import L1Logistic, _subgradient_violation, l1_gradient

    with open(design, "rb") as f:
        d = pickle.load(f)
    x, y, params = d["x"], d["y"], dict(d["params"])
    params.update(solver="working_set", inner_solver=inner, working_set_tol=tol, C=params["C"] * c_scale)
    if set_dtype != "auto":  # an older cnlab has no set_dtype: only its default is run there
        params.update(set_dtype=set_dtype)
    reset_peak()
    before = proc_status_gib("VmRSS")
    t0 = time.perf_counter()
    fit = L1Logistic(**params).fit(x, y)
    seconds = time.perf_counter() - t0
    peak = proc_status_gib("VmHWM")
    coef, b = fit.coef_.ravel(), float(fit.intercept_[0])
    m = fit.decision_function(x)
    s = np.where(y == 1, 1.0, -1.0)
    objective = float(np.abs(coef).sum() + abs(b) + fit.C * np.logaddexp(0.0, -s * m).sum())
    g, gb = l1_gradient(x, y, coef, b, fit.C, margins=m)
    every = float(_subgradient_violation(np.append(g, gb), np.append(coef, b)).sum())
    np.save(out, m)
    return {"inner": inner, "seconds": round(seconds, 1), "peak_above_design_gib": round(peak - before, 3),
            "rows": int(x.shape[0]), "columns": int(x.shape[1]), "rounds": fit.rounds_,
            "converged": bool(fit.converged_), "nonzero": int(np.count_nonzero(coef)),
            "objective": objective, "relative_violation": every / fit.initial_violation_}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("design", type=Path, help="pickle written by bench/pflip_fit.py --save-design")
    ap.add_argument("--inner", nargs="+", default=["liblinear", "newton"], choices=("liblinear", "newton"))
    ap.add_argument("--tol", type=float, default=1e-6, help="working_set_tol (default 1e-6, cnlab's)")
    ap.add_argument("--c-scale", type=float, default=1.0,
                    help="multiply the saved C (a weaker penalty, a larger support: the full-size fit's "
                         "regime on a smaller design)")
    ap.add_argument("--set-dtype", nargs="+", default=["auto"], choices=("auto", "float32", "float64"),
                    help="L1Logistic.set_dtype of the Newton rounds (each in its own process; default auto)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--one-dtype", default="auto", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # rounds on stderr
        out = a.design.with_suffix(f".{a.one}-{a.one_dtype}.npy")
        print(json.dumps(_one(a.design, a.one, a.tol, out, a.c_scale, a.one_dtype)))
        return
    import numpy as np

    results = {}
    runs = [(inner, dt) for inner in a.inner for dt in (a.set_dtype if inner == "newton" else ["auto"])]
    for inner, dt in runs:
        name = f"{inner}-{dt}"
        p = subprocess.run([sys.executable, __file__, str(a.design), "--tol", str(a.tol), "--c-scale", str(a.c_scale),
                            "--one", inner, "--one-dtype", dt],
                           stdout=subprocess.PIPE, text=True)  # stderr (the rounds) passes through
        if p.returncode != 0:
            print(f"{name}: exit {p.returncode}")
            continue
        r = results[name] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"{name}: {r['seconds']} s, peak +{r['peak_above_design_gib']} GiB above the design "
              f"({r['rows']:,} rows x {r['columns']:,} columns), {len(r['rounds'])} rounds, "
              f"{r['nonzero']:,} non-zero, objective {r['objective']:.6f}, "
              f"violation/initial {r['relative_violation']:.3g}, converged {r['converged']}")
        for i, rd in enumerate(r["rounds"], 1):
            print(f"    round {i:>2}: {rd['columns']:>6} columns, {rd['nonzero']:>6} non-zero, "
                  f"violation outside {rd['violation']:.4g}, {rd['seconds']:.1f} s"
                  + (f", {rd['newton_steps']} Newton steps, last model {rd['sweeps']} sweeps"
                     if "sweeps" in rd else "")
                  + (f", set {rd['set_nonzeros']:,} non-zeros" if "set_nonzeros" in rd else ""))
    if len(results) > 1:
        names = list(results)
        d0 = np.load(a.design.with_suffix(f".{names[0]}.npy"))
        for other in names[1:]:
            d1 = np.load(a.design.with_suffix(f".{other}.npy"))
            print(f"max |decision {names[0]} - {other}|: {np.abs(d0 - d1).max():.3g}; "
                  f"seconds ratio {other}/{names[0]}: "
                  f"{results[other]['seconds'] / results[names[0]]['seconds']:.3f}")


if __name__ == "__main__":
    main()
