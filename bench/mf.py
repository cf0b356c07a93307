"""Benchmark of the cnlab MF engine (one command).

    .venv/bin/python bench/mf.py [--sizes 1e6,1e7,5e7] [--cap 5e7:20] [--write bench/RESULTS.md]

For each size N (ratings) it generates planted-model ratings in-process (NumPy; M = N/30 notes,
U = N/100 raters, seed 0) and runs, each case in its own subprocess so that the peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that case alone:

* ``numpy``    — a plain NumPy implementation of ONE full-batch step (loss + gradients + clipping
                 + Adam update; float32), timed over a few repeats: the reference unit;
* ``official`` — ``cnlab.mf.fit(..., solver="official")`` from scratch (Xavier init, lr 1.0): the
                 official Adam loop and stopping rule;
* ``exact``    — ``cnlab.mf.fit(..., solver="exact")`` (alternating exact block solves).

``--cap SIZE:STEPS`` limits the official loop (``max_steps``) and the exact passes
(``exact_max_passes``) for a size; then total times are *projected* from the per-step time and the
steps-to-stop of the largest uncapped size, and labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_ratings(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    M, U = max(n // 30, 10), max(n // 100, 10)
    ni = rng.normal(0, 0.3, M).astype(np.float32)
    nf = rng.normal(0, 0.6, M).astype(np.float32)
    ri = rng.normal(0, 0.2, U).astype(np.float32)
    rf = rng.normal(0, 0.6, U).astype(np.float32)
    n_idx = rng.integers(0, M, n, dtype=np.int64)
    u_idx = rng.integers(0, U, n).astype(np.int32)
    y = 0.2 + ni[n_idx] + ri[u_idx] + nf[n_idx] * rf[u_idx] + rng.normal(0, 0.25, n).astype(np.float32)
    y = np.clip(np.round(y * 2) / 2, 0, 1).astype(np.float32)
    return pd.DataFrame({"noteId": n_idx + 1_000_000, "raterParticipantId": u_idx, "helpfulNum": y})


def numpy_step_time(df, repeats=3):
    """One full-batch step in plain NumPy float32: loss, gradients, clip, Adam update."""
    n_idx, notes = __import__("pandas").factorize(df["noteId"])
    u_idx, raters = __import__("pandas").factorize(df["raterParticipantId"])
    y = df["helpfulNum"].to_numpy(np.float32)
    M, U, N = len(notes), len(raters), len(y)
    rng = np.random.default_rng(0)
    P = {
        "ni": np.zeros(M, np.float32), "nf": rng.uniform(-0.1, 0.1, M).astype(np.float32),
        "ri": np.zeros(U, np.float32), "rf": rng.uniform(-0.1, 0.1, U).astype(np.float32),
        "mu": np.zeros(1, np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in P.items()}
    v_ = {k: np.zeros_like(v) for k, v in P.items()}
    times = []
    for t in range(1, repeats + 1):
        t0 = time.perf_counter()
        gnf, grf = P["nf"][n_idx], P["rf"][u_idx]
        e = P["mu"][0] + P["ni"][n_idx] + P["ri"][u_idx] + gnf * grf - y
        loss = np.mean(e * e) + 0.03 * np.mean(P["nf"] ** 2) + 0.15 * np.mean(P["ni"] ** 2) \
            + 0.03 * np.mean(P["rf"] ** 2) + 0.15 * np.mean(P["ri"] ** 2) + 0.15 * P["mu"][0] ** 2
        d = (2.0 / N) * e
        g = {
            "ni": np.bincount(n_idx, d, M).astype(np.float32) + 0.3 / M * P["ni"],
            "nf": np.bincount(n_idx, d * grf, M).astype(np.float32) + 0.06 / M * P["nf"],
            "ri": np.bincount(u_idx, d, U).astype(np.float32) + 0.3 / U * P["ri"],
            "rf": np.bincount(u_idx, d * gnf, U).astype(np.float32) + 0.06 / U * P["rf"],
            "mu": np.array([d.sum() + 0.3 * P["mu"][0]], np.float32),
        }
        total = np.sqrt(sum(float(np.sum(x * x)) for x in g.values()))
        coef = min(1.0, 1.0 / (total + 1e-6))
        for k in P:
            gk = g[k] * coef
            m[k] = 0.9 * m[k] + 0.1 * gk
            v_[k] = 0.999 * v_[k] + 0.001 * gk * gk
            P[k] = P[k] - (1.0 / (1 - 0.9**t)) * m[k] / (np.sqrt(v_[k]) / np.sqrt(1 - 0.999**t) + 1e-8)
        times.append(time.perf_counter() - t0)
        assert np.isfinite(loss)
    return float(np.median(times))


def worker(size: int, case: str, cap: int | None) -> dict:
    t0 = time.perf_counter()
    df = make_ratings(size)
    gen = time.perf_counter() - t0
    out = {"size": size, "case": case, "gen_s": gen, "cap": cap}
    if case == "numpy":
        out["step_s"] = numpy_step_time(df)
    else:
        t_imp = time.perf_counter()
        if case == "official":
            import tensorflow  # noqa: F401  (import time is not fit time)
        out["import_s"] = time.perf_counter() - t_imp
        from cnlab.mf import fit
        from cnlab.mf.config import CORE_MF

        cfg = CORE_MF
        if cap:
            cfg = cfg.replace(max_steps=cap, exact_max_passes=cap)
        t1 = time.perf_counter()
        r = fit(df, cfg, seed=0, solver=case)
        total = time.perf_counter() - t1
        out.update(total_s=total, steps=r.n_steps, stop=r.stop_reason, loss=r.final_loss,
                   step_s=total / max(r.n_steps, 1))
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    gpu = "none"
    try:
        import tensorflow as tf  # noqa: F401  (only to report the device)

        gpus = tf.config.list_physical_devices("GPU")
        gpu = ", ".join(g.name for g in gpus) or "none"
    except Exception:
        pass
    return f"nproc {os.cpu_count()}, RAM {mem:.1f} GiB, CPU {cpu}, GPU {gpu}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7,5e7")
    ap.add_argument("--cap", action="append", default=[], help="SIZE:STEPS cap (repeatable)")
    ap.add_argument("--write", default=str(HERE / "RESULTS.md"), help="markdown file to append to ('' = none)")
    ap.add_argument("--worker", nargs=3, metavar=("SIZE", "CASE", "CAP"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        size, case, cap = int(float(a.worker[0])), a.worker[1], int(a.worker[2])
        print("RESULT " + json.dumps(worker(size, case, cap or None)), flush=True)
        return
    sizes = [int(float(s)) for s in a.sizes.split(",") if s]
    caps = {int(float(c.split(":")[0])): int(c.split(":")[1]) for c in a.cap}
    rows = []
    for size in sizes:
        res = {}
        for case in ("numpy", "official", "exact"):
            cap = caps.get(size, 0) if case != "numpy" else 0
            p = subprocess.run([sys.executable, __file__, "--worker", str(size), case, str(cap)],
                               capture_output=True, text=True)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode or not line:
                print(p.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"case {size} {case} failed (rc {p.returncode})")
            res[case] = json.loads(line[0][7:])
            print(json.dumps(res[case]), flush=True)
        rows.append(res)
    # projections for capped sizes: steps-to-stop of the largest uncapped size
    ref = {c: None for c in ("official", "exact")}
    for res in rows:
        for c in ref:
            if not res[c]["cap"] or res[c]["steps"] < res[c]["cap"]:
                ref[c] = res[c]["steps"]
    lines = [
        "| ratings | notes | raters | case | time / step | ratio vs NumPy step | steps to stop | total fit time | peak RSS |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for res in rows:
        n = res["numpy"]["size"]
        npstep = res["numpy"]["step_s"]
        lines.append(f"| {n:.0e} | {n // 30} | {n // 100} | numpy (1 step) | {npstep:.3f} s | 1.00 | – | – | "
                     f"{res['numpy']['peak_rss_gib']:.2f} GiB |")
        for c in ("official", "exact"):
            r = res[c]
            capped = bool(r["cap"]) and r["steps"] >= r["cap"]
            unit = "step" if c == "official" else "pass"
            if capped and ref[c]:
                steps = f"capped at {r['cap']} (projected {ref[c]})"
                total = f"{r['total_s']:.1f} s for {r['steps']} {unit}s; projected {r['step_s'] * ref[c]:.0f} s"
            else:
                steps = f"{r['steps']} ({r['stop']})"
                total = f"{r['total_s']:.1f} s"
            lines.append(f"| {n:.0e} | {n // 30} | {n // 100} | {c} (per {unit}) | {r['step_s']:.3f} s | "
                         f"{r['step_s'] / npstep:.2f} | {steps} | {total} | {r['peak_rss_gib']:.2f} GiB |")
    cmd = "python bench/mf.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = "\n".join([
        f"## MF engine ({time.strftime('%Y-%m-%d %H:%M')})", "",
        f"Command: `{cmd.strip()}`  ", f"Machine: {machine()}", "",
        "Synthetic planted-model ratings (M = N/30 notes, U = N/100 raters), fresh fit (CORE_MF, seed 0). "
        "time/step for `official` = total fit time / steps (includes graph tracing and setup, excludes the "
        "TensorFlow import); for `exact` per alternating pass. Ratio = that time / one plain-NumPy float32 step (loss + gradients + clip + "
        "Adam) measured in the same run. Peak RSS = `ru_maxrss` of the case's own subprocess (includes "
        "generating the data).", "", *lines, "",
    ])
    print(section)
    if a.write:
        with open(a.write, "a") as fh:
            fh.write(section + "\n")


if __name__ == "__main__":
    main()
