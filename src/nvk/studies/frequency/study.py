"""`python train.py -m experiment=frequency model=mlp,ntk,laplace,gaussian`: the frequency task.

One run = one model on the sphere data of `cfg.data` (the experiment: 128 equispaced points on
S¹, targets the sum of harmonics k ∈ {1, 2, 3, 4, 6, 8, 12, 16}). A kernel model (`cfg.kernel`
set) runs kernel GD through its closed form; a network (`cfg.model` an MLPModule) runs actual
full-batch GD from the zero function, and its analytic NTK twin (same `ArchSpec`) runs beside
it in the same record. Options (`task.*`, beside `task.records_dir`) are `FrequencyOptions`.
The run directory gets

* `frequency.json`: counts per frequency (extrapolated ones marked), fitted exponents, residual
  curves, η and λ_max, the network's NTK drift (atomic write);
* `frequency.png`: residual curves per frequency and steps-vs-k in log-log with the fit;
* W&B / CSV: `freq/k<k>/residual` at every logged step, `freq/k<k>/steps`, `freq/exponent`.

`python -m nvk.studies.frequency.report <multirun dir>` puts the models side by side.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from nvk.layers import analytic_kernel, mlp_from_arch
from nvk.run import build, write_run_records
from nvk.studies.common import config_kernel, plain, task_options
from nvk.studies.frequency.dynamics import (
    FrequencyCurves,
    HarmonicProjector,
    fit_power,
    kernel_curves,
    network_curves,
)
from nvk.studies.frequency.records import done_record, record_key, record_spec, write_record
from nvk.studies.loggers import log_study
from nvk.utils.io import atomic_write_json

log = logging.getLogger(__name__)


DTYPES = {"float64": torch.float64, "float32": torch.float32}
OWN = ("records_dir",)  # run_frequency's own argument beside the options under `task`


@dataclass(frozen=True)
class FrequencyOptions:
    """name: the model's label in records and plots; threshold: relative residual a frequency
    must reach; lr: η·λ_max; max_steps: GD steps run (networks stop there; kernel counts beyond
    come from the closed form, marked extrapolated); n_log: logged steps (geometric);
    fit_kmin: smallest k in the exponent fit (the first frequencies take a handful of steps,
    where integer rounding dominates; the fit over all k is recorded too); target: ``sum``
    (one run on the data's sum of harmonics) or ``single`` (one run per frequency on that
    harmonic alone: on random S² points the harmonics are not orthogonal on the sample, and
    the unlearned high frequencies of a sum leak into the projection of the low ones; a
    network's run stops once its harmonic is learned, so the cost is the sum of the counts);
    dtype: the network's parameters and inputs (``float64`` or ``float32``; kernels always run
    in float64). docs/frequency.md measures what float32 changes: a step update of a weight at
    high width and high k is below float32's resolution of that weight, so the last
    frequencies take a few per cent more steps."""

    name: str = "model"
    threshold: float = 0.1
    lr: float = 1.0
    max_steps: int = 10_000
    n_log: int = 60
    fit_kmin: int = 3
    target: str = "sum"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.target not in ("sum", "single"):
            raise ValueError(f"unknown task.target={self.target!r}; valid: sum, single")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown task.dtype={self.dtype!r}; valid: {', '.join(DTYPES)}")


def device_of(cfg: DictConfig) -> torch.device:
    """CUDA for trainer.accelerator gpu/cuda (or auto with CUDA present), else CPU."""
    acc = str(cfg.get("trainer", {}).get("accelerator", "auto"))
    use_cuda = acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def summarize_curves(c: FrequencyCurves, kmin: int) -> dict[str, Any]:
    """The JSON-ready curves of a run with its power fits (k ≥ kmin and all k)."""
    d = asdict(c)
    d["fit"] = fit_power(c.frequencies, c.counts, kmin=kmin)
    d["fit_all"] = fit_power(c.frequencies, c.counts, kmin=1)
    d["counts"] = [None if v is None or not math.isfinite(v) else v for v in c.counts]
    return d


def _train_targets(cfg: DictConfig, freqs: list[int], amps: list[float]) -> torch.Tensor:
    dm = instantiate(cfg.data, frequencies=freqs, amplitudes=amps)
    dm.setup()
    return dm.full_batch().y_train.double()


def merge_curves(runs: list[FrequencyCurves]) -> FrequencyCurves:
    """One record from runs on disjoint frequencies.

    Runs that stopped at different steps (networks on `target=single` stop once their harmonic
    is learned) are put on the union of their logged steps; a row holds None at the steps its
    run did not log."""
    if len(runs) == 1:
        return runs[0]
    steps = sorted({t for r in runs for t in r.steps})
    residual = []
    for r in runs:
        at = [dict(zip(r.steps, row)) for row in r.residual]
        residual += [[a.get(t) for t in steps] for a in at]
    extra = {k: max(r.extra[k] for r in runs) for k in runs[0].extra}  # worst case over runs
    if "steps_run" in extra:
        extra["steps_run"] = sum(r.extra["steps_run"] for r in runs)  # GD steps taken in all
    return FrequencyCurves(
        frequencies=[k for r in runs for k in r.frequencies],
        steps=steps,
        residual=residual,
        counts=[c for r in runs for c in r.counts],
        extrapolated=[e for r in runs for e in r.extrapolated],
        eta=runs[0].eta,
        lambda_max=runs[0].lambda_max,
        extra=extra,
    )


def frequency_record(cfg: DictConfig) -> dict[str, Any]:
    """Run the study for cfg's model on cfg's data; the JSON-ready record (see module doc)."""
    o = task_options(cfg, FrequencyOptions, OWN)
    dm = instantiate(cfg.data)
    dm.setup()
    fb = dm.full_batch()
    if dm.info.task != "regression" or not hasattr(dm, "frequencies"):
        raise ValueError(
            f"experiment=frequency needs sphere regression data (data=sphere), got "
            f"data={dm.info.name} task={dm.info.task}"
        )
    freqs = [int(k) for k in dm.frequencies]
    if min(freqs) < 1:
        raise ValueError(f"data.frequencies must be >= 1 for this study, got {freqs}")
    dev = device_of(cfg)
    x, y = fb.x_train.double(), fb.y_train.double()
    proj = HarmonicProjector(x.numpy(), max(freqs))
    kw = dict(threshold=o.threshold, lr=o.lr, max_steps=o.max_steps, n_log=o.n_log)
    rec: dict[str, Any] = {
        "name": o.name,
        "options": asdict(o),
        "dim": dm.info.in_features,
        "n": len(x),
        "frequencies": freqs,
        "device": str(dev),
    }
    if o.target == "sum":
        jobs = [(freqs, y)]
    else:  # the same data module with one harmonic (its own amplitude) at a time
        amps = list(dm.amplitudes)
        jobs = [([k], _train_targets(cfg, [k], [a])) for k, a in zip(freqs, amps)]
    kern = config_kernel(cfg, dm.info)  # conf/kernel/ or an arch's (model=ntk|nngp)
    if kern is not None:
        K = kern(x.to(dev), x.to(dev)).cpu()
        desc = (plain(cfg.kernel) if cfg.get("kernel") is not None
                else {"arch": plain(cfg.arch), "get": cfg.model.get("get", "ntk")})  # fmt: skip
        rec.update(kind="kernel", kernel=desc)
        runs = [kernel_curves(K, yy, proj, ks, **kw) for ks, yy in jobs]
        rec["curves"] = summarize_curves(merge_curves(runs), o.fit_kmin)
        return rec
    module = build(cfg.model, info=dm.info)
    # the network's exact twin: its layer list's NTK (ReLU: the fused fc_ntk of its ArchSpec)
    layer = getattr(module, "layer", None) or mlp_from_arch(module.arch)
    twin_K = analytic_kernel(layer, (x.shape[1],), "ntk")(x, x)
    dtype = DTYPES[o.dtype]
    module.net.to(dtype)
    init = {k: v.clone() for k, v in module.net.state_dict().items()}
    runs = []
    for ks, yy in jobs:
        module.net.load_state_dict(init)  # every frequency from the same initialization
        net = module.net.to(dev)
        runs.append(network_curves(net, x.to(dtype), yy.to(dtype), proj, ks, reference_ntk=twin_K,
                                   **kw))  # fmt: skip
    rec.update(kind="network", arch=module.arch.to_dict())
    rec["curves"] = summarize_curves(merge_curves(runs), o.fit_kmin)
    twin = [kernel_curves(twin_K, yy, proj, ks, **kw) for ks, yy in jobs]
    rec["ntk_twin"] = summarize_curves(merge_curves(twin), o.fit_kmin)
    return rec


def run_frequency(
    cfg: DictConfig, records_dir: str | None = None, **_options: Any
) -> dict[str, float]:
    """The `task` of experiment=frequency: record, plot, log; returns the summary metrics.
    The options (`task.threshold`, `task.target`, …: `FrequencyOptions`) are read from
    `cfg.task` (`_options`: the same values, as Hydra passes them).

    With `records_dir` (task.records_dir) the record is also kept there
    (`nvk.studies.frequency.records`): a rerun of the same spec reuses it instead of training
    again, which is what makes `experiment=frequency_width` resumable."""
    from nvk.studies.frequency.plots import plot_run

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    write_run_records(cfg, out)
    o = task_options(cfg, FrequencyOptions, OWN)
    key, spec = record_key(cfg, o.name), record_spec(cfg, o)
    rec = done_record(records_dir, key, spec) if records_dir else None
    if rec is not None:
        log.info("reusing the finished record %s/%s.json (same spec)", records_dir, key)
    else:
        start = time.time()
        rec = frequency_record(cfg)
        if records_dir:
            write_record(records_dir, key, spec, rec, time.time() - start)
    atomic_write_json(out / "frequency.json", rec)
    png = plot_run(rec, out / "frequency.png")
    c = rec["curves"]
    metrics = {
        f"freq/k{k}/steps": float(v) for k, v in zip(c["frequencies"], c["counts"]) if v is not None
    }
    for key, fit in (("freq/exponent", c["fit"]), ("freq/exponent_all", c["fit_all"])):
        if fit["exponent"] is not None:
            metrics[key] = fit["exponent"]
    if "ntk_twin" in rec and rec["ntk_twin"]["fit"]["exponent"] is not None:
        metrics["freq/ntk_twin/exponent"] = rec["ntk_twin"]["fit"]["exponent"]
    for key, v in c["extra"].items():
        metrics[f"freq/{key}"] = float(v)
    rows = list(zip(c["frequencies"], c["residual"]))  # None: that run had stopped
    per_step = [
        (t, {f"freq/k{k}/residual": r[i] for k, r in rows if r[i] is not None})
        for i, t in enumerate(c["steps"])
    ]
    log_study(cfg, metrics, step=c["steps"][-1], per_step=per_step, figures={"freq/figure": png})
    print(f"[nvk] frequency {rec['name']}: {metrics}  run_dir={out}", flush=True)
    return metrics
