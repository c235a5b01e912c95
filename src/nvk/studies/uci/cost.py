"""What the UCI study cost: CPU and wall time, and a cost model per dataset and per fit.

Everything comes from the sidecars (`_runs/<classifier>/<dataset>.json`, written by
`nvk.studies.uci.protocol.run_cell`):

* per cell: seconds (tuning + folds), one thread per cell (`OMP_NUM_THREADS=1`), so the sum is
  the study's CPU time; wall time is the union of the cells' [finished − seconds, finished]
  intervals (parallel jobs overlap, pauses between sittings do not count);
* per fit (sidecars written since the iteration cap): Gram seconds (paid once per kernel
  setting, on its first C), SVC seconds, libsvm iterations, whether the cap was reached.

Models, least squares in log space: cell seconds ≈ a·n^b per classifier (n = rows), and
SVC seconds ≈ a·n_train^b·C^c over the uncapped fits.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nvk.studies.common import union_seconds
from nvk.studies.uci.records import RUNS, load_records, sidecar_path
from nvk.utils.io import read_checked


def cell_costs(records: dict[tuple[str, str], dict[str, Any]], records_dir: str | Path):
    """(cells, fits): one row per cell with a sidecar, one row per recorded fit."""
    cells, fits = [], []
    for (clf, ds), rec in sorted(records.items()):
        path = sidecar_path(records_dir, clf, ds)
        side = read_checked(path, keep=True)  # a damaged sidecar is named and skipped
        if not isinstance(side, dict) or "finished" not in side or "seconds" not in side:
            continue
        end = _dt.datetime.fromisoformat(side["finished"]).timestamp()
        row = {"classifier": clf, "dataset": ds, "n_rows": rec.get("n_rows"),
               "seconds": float(side["seconds"].get("total", np.nan)), "end": end,
               "capped_fits": len(rec.get("capped_fits", []))}  # fmt: skip
        for f in side.get("fits", []):
            setting = rec["settings"][f["index"]]
            fits.append({"classifier": clf, "dataset": ds, "C": setting.get("C"), **f})
        if side.get("fits"):
            row["gram_s"] = sum(f.get("gram_s", 0.0) for f in side["fits"])
            row["svc_s"] = sum(f.get("svc_s", 0.0) for f in side["fits"])
        cells.append(row)
    return pd.DataFrame(cells), pd.DataFrame(fits)


def wall_seconds(cells: pd.DataFrame) -> float:
    """Length of the union of the cells' running intervals."""
    return union_seconds(zip(cells.end - cells.seconds, cells.end))


def _loglog(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of y ≈ a·x^b by least squares on logs; None with fewer than 3 points."""
    ok = (x > 0) & (y > 0)
    if ok.sum() < 3:
        return None
    b, loga = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(np.exp(loga)), float(b)


def cost_report(
    records_dir: str | Path,
    classifiers: list[str] | None = None,
    *,
    records: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Totals, per-classifier cell models, the SVC fit model and a (C × n) SVC-seconds table.
    `records`: the cells already loaded from `records_dir` (else they are loaded here)."""
    if records is None:
        records = load_records(records_dir, classifiers)
    cells, fits = cell_costs(records, records_dir)
    if cells.empty:
        raise FileNotFoundError(f"no sidecars under {Path(records_dir) / RUNS}")
    per_clf = {}
    for clf, g in cells.groupby("classifier"):
        model = _loglog(g.n_rows.to_numpy(float), g.seconds.to_numpy())
        per_clf[clf] = {"cells": len(g), "cpu_hours": g.seconds.sum() / 3600,
                        "max_cell_s": g.seconds.max(), "model": model}  # fmt: skip
    out: dict[str, Any] = {
        "cells": len(cells),
        "cpu_hours": cells.seconds.sum() / 3600,
        "wall_hours": wall_seconds(cells) / 3600,
        "per_classifier": per_clf,
        "fits": len(fits),
    }
    if not fits.empty and "svc_s" in fits:
        k = fits[fits.C.notna() & ~fits.capped.astype(bool)]
        X = np.column_stack([np.ones(len(k)), np.log(k.n_train), np.log(k.C)])
        y = np.log(np.maximum(k.svc_s.to_numpy(float), 1e-4))
        coef = np.linalg.lstsq(X, y, rcond=None)[0] if len(k) >= 3 else None
        out["svc_model"] = None if coef is None else {
            "a": float(np.exp(coef[0])), "b_n": float(coef[1]), "c_C": float(coef[2]),
            "fits": len(k)}  # fmt: skip
        out["capped_fit_count"] = int(fits.capped.astype(bool).sum())
        out["svc_hours"] = float(fits.svc_s.sum() / 3600)
        out["gram_hours"] = float(fits.gram_s.sum() / 3600)
        edges = [0, 500, 1000, 1500, 2000, 2500, 10**9]
        labels = ["n ≤ 500", "≤ 1000", "≤ 1500", "≤ 2000", "≤ 2500", "> 2500"]
        bins = pd.cut(fits.n_train, edges, labels=labels)
        out["svc_median_s"] = (
            fits.assign(n_train=bins)
            .pivot_table(
                index="C", columns="n_train", values="svc_s", aggfunc="median", observed=True
            )
            .round(3)
        )
    out["cells_table"] = cells.drop(columns="end")
    return out


def _md(df: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as a Markdown table (numbers with 3 significant digits)."""
    d = df.reset_index() if index else df
    fmt = [lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)] * d.shape[1]
    rows = [" | ".join(f(v) for f, v in zip(fmt, r)) for r in d.itertuples(index=False)]
    head = " | ".join(str(c) for c in d.columns)
    return "\n".join([f"| {head} |", "|" + "---|" * d.shape[1], *(f"| {r} |" for r in rows)])


def to_markdown(rep: dict[str, Any], top: int = 15) -> str:
    """The report as Markdown (the costliest `top` cells listed)."""
    lines = [
        f"{rep['cells']} cells: {rep['cpu_hours']:.2f} CPU-hours (one thread per cell), "
        f"{rep['wall_hours']:.2f} hours of wall time while cells ran.",
        "",
        "| classifier | cells | CPU-hours | slowest cell (s) | cell seconds ≈ a·n^b |",
        "|---|---:|---:|---:|---|",
    ]
    for clf, r in rep["per_classifier"].items():
        m = "n/a" if r["model"] is None else f"{r['model'][0]:.3g}·n^{r['model'][1]:.2f}"
        lines.append(
            f"| {clf} | {r['cells']} | {r['cpu_hours']:.2f} | {r['max_cell_s']:.0f} | {m} |"
        )
    if rep.get("svc_model"):
        m = rep["svc_model"]
        lines += ["", f"Per fit ({rep['fits']} fits with timings: Gram {rep['gram_hours']:.2f} h, "
                  f"SVC {rep['svc_hours']:.2f} h; {rep['capped_fit_count']} reached the cap): "
                  f"SVC seconds ≈ {m['a']:.3g}·n_train^{m['b_n']:.2f}·C^{m['c_C']:.3f} "
                  f"(least squares on logs, {m['fits']} uncapped fits).", "",
                  "Median SVC seconds per fit, by C (rows) and training rows (columns):", "",
                  _md(rep["svc_median_s"])]  # fmt: skip
    cells = rep["cells_table"].sort_values("seconds", ascending=False).head(top)
    lines += ["", f"Costliest {len(cells)} cells:", "", _md(cells, index=False)]
    return "\n".join(lines) + "\n"
