"""`python evaluate.py task=spectra`: kernel spectra on spheres and data, Laplace/Gaussian fits to
the NTK, NTK eigenfunctions on the disk (Geifman et al. 2020, Figures 1, 2, 4).

Four parts, each a pure function of its settings (the math lives in `nvk.spectral`):

* `sphere_part`: Funk–Hecke λ_k on S^{d−1} for a set of kernels, error estimates, decay slopes
  over the stated k ranges (all / even / odd k), local slopes for the Gaussian;
* `fit_part`: a·exp(−c(2 − 2u)^{γ/2}) + b fitted to the NTK profile for every depth (Laplace
  γ = 1 and Gaussian γ = 2; both weights): Figure 4 and Figure 1 (left);
* `gram_part`: eigenvalues of K/n on a UCI dataset (abalone) for NTK, Laplace and Gaussian, the
  exponential kernels with the c fitted to that NTK (Figure 1, right);
* `disk_part`: Nyström eigenfunctions of the NTK and the fitted Laplace kernel on the unit disk
  (uniform density), their |correlation| matrix and the n-vs-2n convergence (Figure 2).

Run directory: `spectra.json` (every number), `figure1.png`, `figure2.png`, `figure4.png`,
`sphere_eigenvalues.png`, `disk_eigenfunctions.npz`, `metrics.json` (flat keys, also logged
with the figures to the `logger` group: by default W&B, offline unless WANDB_MODE says
otherwise, and CSV; `logger=csv`: no W&B run) and `parts/<part>.json` for the sphere, fit and
Gram parts: one whose settings are unchanged is read back instead of recomputed (re-running in
the same directory resumes; the disk part, a few seconds, is always recomputed).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from nvk.data.normalize import normalize
from nvk.data.uci import load_uci
from nvk.kernels import fc_ntk, gaussian, laplace
from nvk.spectral import (
    KernelProfile,
    abs_correlation,
    common_cuts,
    decay_slopes,
    fit_decay,
    fit_exponential,
    gram_spectrum,
    local_slopes,
    nystrom_eigen,
    sphere_eigenvalues,
    subspace_agreement,
    uniform_disk,
    uniform_sphere,
)
from nvk.studies.common import plain
from nvk.utils.io import (
    atomic_write_bytes,
    atomic_write_json,
    read_checked,
    read_json,
    require_keys,
)

log = logging.getLogger("nvk")


def _cached(out: Path, name: str, params: dict, fn: Callable[[], dict]) -> dict:
    """fn() unless parts/<name>.json holds a result for the same params (then that result)."""
    path = out / "parts" / f"{name}.json"
    stored = read_checked(path, check=lambda d: require_keys(d, ("params", "result")))
    if stored is not None and stored["params"] == params:
        log.info("spectra: %s read back from %s", name, path)
        return stored["result"]
    result = fn()
    atomic_write_json(path, {"params": params, "result": result})
    return read_json(path)["result"]  # the same JSON types whether computed or read back


# --------------------------------------------------------------------------- sphere


def _profile(spec: dict, d: int) -> KernelProfile:
    params = {k: v for k, v in spec.items() if k != "kernel"}
    if spec["kernel"] in ("fc_ntk", "fc_nngp"):
        params["d"] = d
    return KernelProfile(spec["kernel"], **params)


def sphere_part(
    dims: list[int], kmax: list[int], kernels: dict[str, dict], low_range: list[int]
) -> dict:
    """λ_k, errors and slopes for every kernel spec ({kernel: name, **params}) and dimension;
    the high range is [16, kmax_d] (the issue's [16, 256] on S¹, [16, 128] on S²)."""
    if len(dims) != len(kmax):
        raise ValueError(f"sphere.dims {dims} and sphere.kmax {kmax} must have the same length")
    out: dict[str, Any] = {}
    for d, km in zip(dims, kmax):
        for name, spec in kernels.items():
            s = sphere_eigenvalues(_profile(spec, d), d, km)
            rec: dict[str, Any] = {
                "kernel": spec,
                "eigenvalues": s.eigenvalues.tolist(),
                "error": s.error.tolist(),
                "multiplicities": s.multiplicities.tolist(),
                "nodes": s.nodes,
                "slopes": {},
            }
            ok = s.resolved()
            for lo, hi in ((16, km), tuple(low_range)):
                fits = decay_slopes(np.where(ok, s.eigenvalues, 0.0), lo, hi)
                rec["slopes"][f"{lo}_{hi}"] = {p: f.as_dict() for p, f in fits.items()}
            last = int(np.flatnonzero(ok)[-1]) if ok.any() else 0
            octaves = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= last]
            rec["resolved_kmax"] = last
            rec["octave_k"] = octaves
            rec["octave_slopes"] = local_slopes(s.eigenvalues, octaves).tolist()
            out[f"d{d}/{name}"] = rec
    return out


# --------------------------------------------------------------------------- fits


def fit_part(depths: list[int], d: int, bias: float, weights: list[str]) -> dict:
    """{weight: {laplace|gaussian: {L: ProfileFit dict}}} for the NTK FC_β(L) profile on
    S^{d−1}."""
    out: dict[str, Any] = {}
    for w in weights:
        out[w] = {"laplace": {}, "gaussian": {}}
        for depth in depths:
            target = KernelProfile("fc_ntk", d=d, depth=depth, bias=bias)
            for name, gamma in (("laplace", 1.0), ("gaussian", 2.0)):
                fit = fit_exponential(target, gamma=gamma, weight=w, d=d)
                out[w][name][str(depth)] = fit.as_dict()
    return out


# --------------------------------------------------------------------------- Gram spectra


def load_points(uci_dir: str, dataset: str, n: int | None, norm: str, seed: int) -> tuple:
    """Rows of a UCI dataset, normalized, subsampled to n (None: all); if the collection is
    missing, n uniform points on S^7 instead (logged and recorded as the source)."""
    rng = np.random.default_rng(seed)
    try:
        x = load_uci(uci_dir, dataset).x.numpy()
        source = f"uci/{dataset}"
    except FileNotFoundError as e:
        log.warning("spectra: %s; Gram spectra on uniform points of S^7 instead", e)
        x, source = uniform_sphere(n or 1000, 8, rng), "uniform_sphere_d8"
    if n is not None and n < len(x):
        x = x[np.sort(rng.choice(len(x), n, replace=False))]
    (x,) = normalize(x, mode=norm, dataset=source)
    return x, source


def gram_part(
    uci_dir: str, dataset: str, n: int | None, norm: str, seed: int, depth: int, bias: float
) -> dict:
    """Eigenvalues of K/n for NTK FC_β(L) and the Laplace/Gaussian fitted to its profile on
    S^{D−1} (D = the data dimension; uniform weight)."""
    x, source = load_points(uci_dir, dataset, n, norm, seed)
    dim = x.shape[1]
    target = KernelProfile("fc_ntk", d=dim, depth=depth, bias=bias)
    c_lap = fit_exponential(target, gamma=1.0).c
    c_gau = fit_exponential(target, gamma=2.0).c
    spectra = {
        "ntk": gram_spectrum(fc_ntk, x, depth=depth, bias=bias),
        "laplace": gram_spectrum(laplace, x, c=c_lap),
        "gaussian": gram_spectrum(gaussian, x, c=c_gau),
    }
    lo, hi = 10, max(11, len(x) // 10)
    return {
        "source": source,
        "n": len(x),
        "dim": dim,
        "c": {"laplace": c_lap, "gaussian": c_gau},
        "eigenvalues": {k: v.tolist() for k, v in spectra.items()},
        "slopes": {
            k: fit_decay(v, lo, hi, k=np.arange(1, len(v) + 1)).as_dict()
            for k, v in spectra.items()
            if (v[lo - 1 : hi] > 0).all()
        },
    }


# --------------------------------------------------------------------------- disk


def disk_grid(size: int) -> np.ndarray:
    """Pixel centres of a size × size image of [−1, 1]² inside the unit disk: (M, 2)."""
    g = (np.arange(size) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(g, g[::-1])
    z = np.stack([xx.ravel(), yy.ravel()], 1)
    return z[(z**2).sum(1) <= 1]


def disk_part(n: int, m: int, grid: int, seed: int, depth: int, bias: float, c: float) -> dict:
    """Top-m Nyström eigenfunctions of the NTK and Laplace(c) under the uniform density on the
    disk, on a grid (images) and their |corr|. Convergence: for every r where both the n- and
    the 2n-sample spectra have a gap of ≥ 25% (`common_cuts`), the spans of the first r NTK
    eigenfunctions of the two runs are compared on the grid (cosine of the largest principal
    angle, 1 = equal); the same for the first r NTK vs the first r Laplace eigenfunctions."""
    z = disk_grid(grid)
    ntk = nystrom_eigen(fc_ntk, uniform_disk(n, np.random.default_rng(seed)), m, depth=depth,
                        bias=bias)  # fmt: skip
    lap = nystrom_eigen(laplace, ntk.x, m, c=c)
    ntk2 = nystrom_eigen(fc_ntk, uniform_disk(2 * n, np.random.default_rng(seed + 1)), m,
                         depth=depth, bias=bias)  # fmt: skip
    f_ntk, f_lap, f_ntk2 = ntk(z), lap(z), ntk2(z)
    cuts = common_cuts(ntk.eigenvalues, ntk2.eigenvalues)  # r: first r well separated in both
    w = np.full(len(z), 1.0 / len(z))
    agree = [subspace_agreement(f_ntk[:, :r], f_ntk2[:, :r], w) for r in cuts]
    vs_lap = [subspace_agreement(f_ntk[:, :r], f_lap[:, :r], w) for r in cuts]
    return {
        "n": n,
        "grid": grid,
        "laplace_c": c,
        "eigenvalues": {
            "ntk": ntk.eigenvalues.tolist(),
            "laplace": lap.eigenvalues.tolist(),
            "ntk_2n": ntk2.eigenvalues.tolist(),
        },
        "abs_correlation": abs_correlation(f_ntk, f_lap).tolist(),
        "cuts": cuts,
        "agreement_n_2n": agree,  # span of the first r NTK eigenfunctions, n vs 2n samples
        "ntk_vs_laplace": vs_lap,  # span of the first r NTK vs the first r Laplace ones
        "_images": {"points": z, "ntk": f_ntk, "laplace": f_lap},
    }


# --------------------------------------------------------------------------- task


def flat_metrics(rec: dict) -> dict[str, float]:
    """Slash-separated scalar keys of the record (what goes to metrics.json and the loggers)."""
    m: dict[str, float] = {}
    for key, r in rec["sphere"].items():
        for rng, fits in r["slopes"].items():
            for parity, f in fits.items():
                suffix = "" if parity == "all" else f"_{parity}"
                m[f"sphere/{key}/slope_{rng}{suffix}"] = f["slope"]
        if r["octave_slopes"]:
            m[f"sphere/{key}/last_octave_slope"] = r["octave_slopes"][-1]
    for w, kinds in rec["fits"].items():
        for kind, per_depth in kinds.items():
            for depth, f in per_depth.items():
                m[f"fit/{w}/{kind}/L{depth}/c"] = f["c"]
                m[f"fit/{w}/{kind}/L{depth}/rmse"] = f["rmse"]
    if rec.get("gram"):
        for k, f in rec["gram"]["slopes"].items():
            m[f"gram/{k}/slope"] = f["slope"]
    if rec.get("disk"):
        dk = rec["disk"]
        for r, a, b in zip(dk["cuts"], dk["agreement_n_2n"], dk["ntk_vs_laplace"]):
            m[f"disk/agreement/first{r}"] = a
            m[f"disk/ntk_vs_laplace/first{r}"] = b
    return m


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def run(
    cfg: DictConfig,
    *,
    sphere: dict,
    fits: dict,
    gram: dict | None,
    disk: dict | None,
    ntk: dict,
    seed: int = 0,
) -> dict[str, float]:
    """The spectra task (module doc); returns the flat metrics."""
    from nvk.run import write_run_records  # the entry-point layer's record writer
    from nvk.studies.loggers import log_study
    from nvk.studies.spectra.figures import draw_all

    sphere, fits, gram, disk, ntk = (plain(v) for v in (sphere, fits, gram, disk, ntk))
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_run_records(cfg, out)
    rec: dict[str, Any] = {"ntk": ntk, "fits_d": fits["d"]}
    rec["sphere"] = _cached(out, "sphere", sphere, lambda: sphere_part(**sphere))
    fit_params = {**fits, "bias": ntk["bias"]}
    rec["fits"] = _cached(out, "fits", fit_params, lambda: fit_part(**fit_params))
    if gram:
        params = {**gram, "seed": seed, **ntk, "uci_dir": str(cfg.paths.uci_dir)}
        rec["gram"] = _cached(out, "gram", params, lambda: gram_part(**params))
    if disk:
        c = fit_exponential(KernelProfile("fc_ntk", d=2, **ntk)).c  # Laplace ≈ NTK on S¹
        d_rec = disk_part(seed=seed, c=c, **disk, **ntk)
        images = d_rec.pop("_images")
        _save_npz(out / "disk_eigenfunctions.npz", **images)
        rec["disk"] = d_rec
    atomic_write_json(out / "spectra.json", rec)
    figures = draw_all(rec, out)
    metrics = flat_metrics(rec)
    atomic_write_json(out / "metrics.json", metrics)
    log_study(cfg, metrics, figures={f"figures/{p.stem}": p for p in figures})
    shown = {
        k: v
        for k, v in metrics.items()
        if f"/laplace/L{ntk['depth']}/c" in k
        or ("/slope_16_" in k and k.split("/")[2] in ("laplace", "ntk_L6_bias") and k[-1].isdigit())
    }
    print("[nvk] spectra " + "  ".join(f"{k}={v:.3f}" for k, v in shown.items()), flush=True)
    print(f"[nvk] spectra: figures and spectra.json in {out}", flush=True)
    return metrics
