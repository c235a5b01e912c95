"""Figures of the spectral study, drawn from its record (`spectra.json`, see `study.py`).

figure1.png: NTK profile with the fitted Laplace and Gaussian (left), Gram spectra on data
(right); figure2.png: NTK and Laplace eigenfunctions on the disk and their |correlation|;
figure4.png: the fitted Laplace c against depth; sphere_eigenvalues.png: λ_k on S¹ and S².
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nvk.spectral import KernelProfile, ProfileFit
from nvk.studies.common import save_figure


def _save(fig: plt.Figure, path: Path) -> Path:
    return save_figure(fig, path, dpi=90, bbox_inches="tight")


def figure1(rec: dict[str, Any], path: Path) -> Path:
    ntk = rec["ntk"]
    depth = str(ntk["depth"])
    weight = "uniform" if "uniform" in rec["fits"] else next(iter(rec["fits"]))
    fits = rec["fits"][weight]
    ncols = 2 if rec.get("gram") else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.8), squeeze=False)
    ax = axes[0, 0]
    u = np.linspace(-1, 1, 801)
    d = rec["fits_d"]
    ax.plot(u, KernelProfile("fc_ntk", d=d, **ntk)(u), "k", lw=2.5, label=f"NTK L={depth}")
    for name, style in (("laplace", "C0--"), ("gaussian", "C3:")):
        if depth in fits[name]:
            f = ProfileFit(**fits[name][depth])
            ax.plot(u, f(u), style, lw=2, label=f"{name}, c={f.c:.3g}")
    title = f"fits to the NTK (β={ntk['bias']}, S^{d - 1}, {weight} weight)"
    ax.set(xlabel="u = xᵀz", ylabel="κ(u)", title=title)
    ax.legend()
    if rec.get("gram"):
        g = rec["gram"]
        ax = axes[0, 1]
        for name, style in (("ntk", "k-"), ("laplace", "C0--"), ("gaussian", "C3:")):
            lam = np.asarray(g["eigenvalues"][name])
            ax.loglog(np.arange(1, len(lam) + 1), lam / lam[0], style, lw=2, label=name)
        ax.set_ylim(bottom=1e-12)
        ax.set(
            xlabel="index i", ylabel="μ_i / μ_1", title=f"Gram spectra, {g['source']} n={g['n']}"
        )
        ax.legend()
    return _save(fig, path)


def figure2(rec: dict[str, Any], images: dict[str, np.ndarray], path: Path, shown: int = 8) -> Path:
    d = rec["disk"]
    pts, size = images["points"], d["grid"]
    m = min(shown, images["ntk"].shape[1])
    fig = plt.figure(figsize=(2.0 * m + 4.5, 4.4))
    grid = fig.add_gridspec(2, m + 2, width_ratios=[1] * m + [0.15, 2.2])
    idx = np.round((pts + 1) / 2 * size - 0.5).astype(int)  # pixel of each point
    for row, name in enumerate(("ntk", "laplace")):
        for j in range(m):
            img = np.full((size, size), np.nan)
            img[size - 1 - idx[:, 1], idx[:, 0]] = images[name][:, j]
            ax = fig.add_subplot(grid[row, j])
            ax.imshow(img, cmap="RdBu_r", extent=(-1, 1, -1, 1), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel("NTK" if name == "ntk" else "Laplace")
            if row == 0:
                ax.set_title(f"φ_{j + 1}", fontsize=9)
    ax = fig.add_subplot(grid[:, -1])
    corr = np.asarray(d["abs_correlation"])
    im = ax.imshow(corr, vmin=0, vmax=1, cmap="viridis")
    ax.set(xlabel="Laplace eigenfunction", ylabel="NTK eigenfunction", title="|correlation|")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def figure4(rec: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for w, style in (("uniform", "o-"), ("sphere", "s--")):
        if w in rec["fits"]:
            per = rec["fits"][w]["laplace"]
            depths = sorted(int(k) for k in per)
            ax.plot(depths, [per[str(k)]["c"] for k in depths], style, label=f"{w} weight")
    ax.set(xlabel="depth L", ylabel="optimal Laplace c",
           title=f"Laplace fitted to NTK (β={rec['ntk']['bias']})")  # fmt: skip
    ax.legend()
    return _save(fig, path)


def sphere_figure(rec: dict[str, Any], path: Path) -> Path:
    dims = sorted({int(k.split("/")[0][1:]) for k in rec["sphere"]})
    fig, axes = plt.subplots(1, len(dims), figsize=(5.2 * len(dims), 3.8), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for key, r in rec["sphere"].items():
            if not key.startswith(f"d{d}/"):
                continue
            lam, err = np.asarray(r["eigenvalues"]), np.asarray(r["error"])
            k = np.arange(1, len(lam))
            ok = np.abs(lam[1:]) > 100 * err[1:]
            ax.loglog(k[ok], lam[1:][ok] / lam[0], ".", ms=3, label=key.split("/")[1])
        ax.set_ylim(bottom=1e-14)
        ax.set(xlabel="frequency k", ylabel="λ_k / λ_0", title=f"Funk–Hecke eigenvalues, S^{d - 1}")
        ax.legend(fontsize=7)
    return _save(fig, path)


def draw_all(rec: dict[str, Any], out: Path) -> list[Path]:
    """Every figure the record allows, into `out`; returns their paths."""
    paths = [figure1(rec, out / "figure1.png"), figure4(rec, out / "figure4.png"),
             sphere_figure(rec, out / "sphere_eigenvalues.png")]  # fmt: skip
    if rec.get("disk"):
        with np.load(out / "disk_eigenfunctions.npz") as z:
            images = {k: z[k] for k in z.files}
        paths.append(figure2(rec, images, out / "figure2.png"))
    return paths
