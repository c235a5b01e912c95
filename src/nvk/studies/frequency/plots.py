"""Figures of the frequency study: residual curves, steps vs frequency (log-log), random labels.

Records are the dicts the study writes (`frequency.json`, `random_labels.json`); every function
saves a PNG (atomic write) and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nvk.studies.common import save_figure


def _save(fig: Any, path: str | Path) -> Path:
    return save_figure(fig, path, dpi=110, bbox_inches="tight")


def _residuals(ax: Any, curves: dict[str, Any], title: str, threshold: float) -> None:
    steps = np.maximum(np.asarray(curves["steps"]), 0.5)  # step 0 drawn at 0.5 on a log axis
    for k, r in zip(curves["frequencies"], curves["residual"]):
        r = np.asarray([np.nan if v is None else v for v in r], dtype=float)
        ok = np.isfinite(r)  # None: that run had stopped (or did not log the step)
        ax.loglog(steps[ok], np.maximum(r[ok], 1e-8), label=f"k={k}")
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


def plot_width(result: dict[str, Any], path: str | Path) -> Path:
    """The width sweep (`nvk.studies.frequency.width`): steps vs k per width with the NTK twin;
    exponent vs width with the twin's and reference kernels' exponents as lines; the empirical
    NTK's change during training (and distance to the analytic one at init) vs width."""
    rows, ks = result["rows"], np.asarray(result["frequencies"], dtype=float)
    widths = np.asarray([r["width"] for r in rows], dtype=float)
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.6))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(rows)))
    for r, col in zip(rows, colors):
        c = np.asarray([np.nan if v is None else v for v in r["counts"]], dtype=float)
        ax[0].loglog(ks, c, "o-", color=col, ms=3, label=f"width {r['width']}")
    twin = np.asarray([np.nan if v is None else v for v in rows[0]["ntk_twin_counts"]], float)
    ax[0].loglog(ks, twin, "k--", lw=2, label="analytic NTK")
    ax[0].set_xticks(ks, [str(int(k)) for k in ks], minor=False)
    ax[0].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[0].set(xlabel="frequency k", ylabel="GD steps to 10 % residual", title="steps per frequency")
    ax[0].legend(fontsize=7)
    exps = np.asarray([np.nan if r["exponent"] is None else r["exponent"] for r in rows], float)
    ax[1].semilogx(widths, exps, "o-", color="C0", label="network")
    ax[1].axhline(rows[0]["ntk_twin_exponent"], color="k", ls="--", label="analytic NTK")
    for (name, p), ls in zip(result["references"].items(), (":", "-.", (0, (1, 3)))):
        if p is not None:
            ax[1].axhline(p, color="C3", ls=ls, label=name)
    ax[1].set(xlabel="width", ylabel=f"exponent p (steps ∝ k^p, k ≥ {result['fit_kmin']})",
              title="fitted exponent")  # fmt: skip
    ax[1].legend(fontsize=8)
    panels = (("ntk_relative_change", "change during training", "o-"),
              ("ntk_init_relative_error", "distance to analytic at init", "s--"))  # fmt: skip
    for key, label, m in panels:
        v = np.asarray([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
        ax[2].loglog(widths, v, m, label=label)
    ax[2].loglog(widths, rows[0]["ntk_relative_change"] * np.sqrt(widths[0] / widths), "k:",
                 lw=1, label="∝ width^-1/2")  # fmt: skip
    ax[2].set(xlabel="width", ylabel="‖Θ̂ − Θ‖_F / ‖Θ‖_F", title="empirical NTK")
    ax[2].legend(fontsize=8)
    for a in ax[1:]:
        a.set_xticks(widths, [str(int(w)) for w in widths], minor=False)
        a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return _save(fig, path)
