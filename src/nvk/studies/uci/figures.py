"""Figure 3 of Geifman et al. 2020 and a critical-difference diagram (Demšar 2006), as PNGs.

Matplotlib with the Agg backend (no display needed); PNGs carry no timestamp, so equal inputs
give equal files with the same matplotlib version.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from nvk.studies.common import save_figure

_META = {"Software": None}  # keep the version string out of the PNG: bytes depend on data only


def figure3(acc: pd.DataFrame, a: str = "ntk", b: str = "h_laplace", path: str | Path = "f.png"):
    """Per-dataset accuracy of classifier `a` (x) vs `b` (y) in %, with the diagonal y = x."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=120)
    x, y = 100 * acc[a].to_numpy(), 100 * acc[b].to_numpy()
    lo = min(x.min(), y.min(), 100.0) if len(x) else 0.0
    lo = max(0.0, 5 * (lo // 5))
    ax.plot([lo, 100], [lo, 100], color="0.4", lw=1, zorder=1)
    ax.scatter(x, y, s=14, color="tab:blue", zorder=2)
    ax.set(xlim=(lo, 100), ylim=(lo, 100), xlabel=f"{a} accuracy (%)",
           ylabel=f"{b} accuracy (%)", title=f"{len(x)} UCI datasets")  # fmt: skip
    ax.set_aspect("equal")
    fig.tight_layout()
    return save_figure(fig, path, metadata=_META)


def cliques(ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal groups of classifiers (sorted by rank) whose average ranks differ by < cd."""
    r = ranks.sort_values(kind="stable")
    names, vals = list(r.index), r.to_numpy()
    groups: list[list[str]] = []
    last_end = -1
    for i in range(len(vals)):
        j = i
        while j + 1 < len(vals) and vals[j + 1] - vals[i] < cd:
            j += 1
        if j > i and j > last_end:
            groups.append(names[i : j + 1])
            last_end = j
    return groups


def cd_diagram(
    ranks: pd.Series,
    cd: float,
    path: str | Path,
    *,
    n_datasets: int | None = None,
    alpha: float = 0.05,
):
    """Average ranks on an axis (1 = best, left), the CD bar, and bars joining classifiers
    whose ranks differ by less than the critical difference (Nemenyi, not significant)."""
    r = ranks.sort_values(kind="stable")
    k, hi, margin = len(r), max(len(r), 2), 2.4  # margin: room for the labels (rank units)
    groups = cliques(r, cd)
    half = (k + 1) // 2
    step = 0.22
    top = 0.12 * len(groups) + 0.25  # clique bars sit between the axis and the first label
    bottom = -(top + step * (half + 0.5))
    fig, ax = plt.subplots(figsize=(7.0, 1.3 - 0.9 * bottom), dpi=120)
    ax.set_xlim(1 - margin, hi + margin)
    ax.set_ylim(bottom, 0.75)
    ax.axis("off")
    ax.hlines(0, 1, hi, color="k", lw=1)
    for t in range(1, hi + 1):
        ax.vlines(t, 0, 0.06, color="k", lw=1)
        ax.text(t, 0.1, str(t), ha="center", va="bottom", fontsize=8)
    ax.hlines(0.5, 1, 1 + cd, color="k", lw=1.5)
    ax.vlines([1, 1 + cd], 0.46, 0.54, color="k", lw=1.5)
    ax.text(1 + cd / 2, 0.56, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    for i, (name, v) in enumerate(r.items()):
        left = i < half
        y = -(top + step * (i if left else k - 1 - i))
        xe = 1 - 0.15 if left else hi + 0.15
        ax.plot([v, v, xe], [0, y, y], color="k", lw=0.8)
        ax.text(xe - 0.05 if left else xe + 0.05, y, f"{name} ({v:.2f})",
                ha="right" if left else "left", va="center", fontsize=8)  # fmt: skip
    for g, group in enumerate(groups):
        y = -0.12 - 0.12 * g
        ax.hlines(y, r[group[0]] - 0.05, r[group[-1]] + 0.05, color="tab:red", lw=3)
    if n_datasets is not None:
        ax.set_title(f"Nemenyi, α = {alpha}, {n_datasets} datasets", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, metadata=_META)


def cost_figure(cells: pd.DataFrame, path: str | Path = "cost.png"):
    """Seconds per cell (tuning + folds, one thread) against the dataset's rows, log-log, one
    colour per classifier; `cells` has columns classifier, n_rows, seconds."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=120)
    for name, g in cells.groupby("classifier", sort=True):
        ax.scatter(g.n_rows, g.seconds, s=10, label=name, alpha=0.8)
    ax.set(xscale="log", yscale="log", xlabel="rows n", ylabel="seconds per cell (1 thread)",
           title=f"UCI study cost, {len(cells)} cells")  # fmt: skip
    ax.grid(True, which="major", color="0.9")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path, metadata=_META)
