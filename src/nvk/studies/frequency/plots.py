"""Figures of the frequency study: residual curves, steps vs frequency (log-log), random labels.

Records are the dicts the study writes (`frequency.json`, `random_labels.json`); every function
saves a PNG (atomic write) and returns its path.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nvk.utils.io import atomic_write_bytes


def _save(fig: Any, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _residuals(ax: Any, curves: dict[str, Any], title: str, threshold: float) -> None:
    steps = np.maximum(np.asarray(curves["steps"]), 0.5)  # step 0 drawn at 0.5 on a log axis
    for k, r in zip(curves["frequencies"], curves["residual"]):
        ax.loglog(steps, np.maximum(r, 1e-8), label=f"k={k}")
    ax.axhline(threshold, color="k", ls=":", lw=1)
    ax.set(xlabel="GD step", ylabel="‖P_k r_t‖ / ‖P_k r_0‖", title=title, ylim=(1e-3, 2))
    ax.legend(fontsize=7, ncol=2)


def _counts(ax: Any, curves: dict[str, Any], label: str, color: Any = None) -> None:
    ks = np.asarray(curves["frequencies"], dtype=float)
    c = np.asarray([np.nan if v is None else v for v in curves["counts"]], dtype=float)
    ext = np.asarray(curves["extrapolated"], dtype=bool)
    fit = curves["fit"]
    text = "" if fit["exponent"] is None else f" (k^{fit['exponent']:.2f})"
    (line,) = ax.loglog(ks[~ext], c[~ext], "o-", color=color, label=label + text)
    if ext.any():
        ax.loglog(ks[ext], c[ext], "o--", mfc="none", color=line.get_color(),
                  label=f"{label}: extrapolated (closed form)")  # fmt: skip
    if fit["exponent"] is not None:
        kk = ks[ks >= curves.get("fit_kmin", 1)]
        ax.loglog(kk, np.exp(fit["intercept"]) * kk ** fit["exponent"], ":", color=line.get_color())
    ax.set_xticks(ks, [str(int(k)) for k in ks], minor=False)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set(xlabel="frequency k", ylabel="steps to threshold")


def plot_run(rec: dict[str, Any], path: str | Path) -> Path:
    """One run: residual curves (the model, and its NTK twin for networks) + steps vs k."""
    thr = rec["options"]["threshold"]
    panels = [("curves", rec["name"])] + ([("ntk_twin", "NTK twin")] if "ntk_twin" in rec else [])
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 4))
    for ax, (key, title) in zip(axes, panels):
        _residuals(ax, rec[key], title, thr)
    for key, title in panels:
        _counts(axes[-1], {**rec[key], "fit_kmin": rec["options"]["fit_kmin"]}, title)
    axes[-1].legend(fontsize=7)
    axes[-1].set_title(f"S^{rec['dim'] - 1}, n={rec['n']}, threshold {thr}")
    return _save(fig, path)


def plot_compare(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Models side by side: one steps-vs-k panel (all models) + a residual panel per model."""
    n = len(records)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.5 * (n + 1), 4))
    for ax, rec in zip(axes[1:], records):
        _residuals(ax, rec["curves"], rec["name"], rec["options"]["threshold"])
        _counts(axes[0], {**rec["curves"], "fit_kmin": rec["options"]["fit_kmin"]}, rec["name"])
    axes[0].legend(fontsize=7)
    axes[0].set_title("steps to threshold vs frequency")
    return _save(fig, path)


def plot_random_labels(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Epochs (full-batch GD steps) to zero training error vs label-noise fraction per model."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for rec in records:
        noise = np.asarray(rec["noise"], dtype=float)
        ep = np.asarray([np.nan if v is None else v for v in rec["epochs"]], dtype=float)
        ext = np.asarray(rec["extrapolated"], dtype=bool)
        (line,) = ax.semilogy(noise, ep, "o-", label=rec["name"])
        if ext.any():
            ax.semilogy(noise[ext], ep[ext], "o", mfc="none", color=line.get_color(), ms=10)
    ax.set(xlabel="fraction of random labels", ylabel="epochs to zero training error")
    ax.set_title("hollow rings: closed form beyond max_steps")
    ax.legend(fontsize=8)
    return _save(fig, path)
