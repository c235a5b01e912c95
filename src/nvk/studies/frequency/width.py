"""`experiment=frequency_width`: the frequency study across network widths, as one table.

Reads the records a sweep over `arch.width` kept in `task.records_dir`
(`nvk.studies.frequency.records`) and writes, beside them (`<records_dir>/../table`):

* `frequency_width.md/.csv/.json`: per width the fitted exponent (k ≥ fit_kmin) and its gap to
  the analytic NTK twin's, the steps per frequency, the empirical NTK's distance to the analytic
  one at initialization and its relative change during training, GD steps run, seconds;
* `frequency_width.png`: steps vs k per width (the twin dashed), exponent vs width with the NTK
  twin's and the reference kernels' (Laplace) exponents as lines, NTK change vs width.

`WidthTableCallback` (a Hydra callback of the experiment) writes them when the sweep ends;
`python evaluate.py task=frequency_width` writes them again from the records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nvk.kernels import laplace
from nvk.studies.frequency.dynamics import HarmonicProjector, kernel_curves
from nvk.studies.frequency.study import summarize_curves
from nvk.utils.io import atomic_write_json, atomic_write_text, read_checked, require_keys

log = logging.getLogger(__name__)


def load_width_records(records_dir: str | Path) -> list[dict[str, Any]]:
    """Network records (those with a width) below `records_dir`, sorted by width; damaged files
    are named and skipped. FileNotFoundError (saying what to run) when there are none."""
    root = Path(records_dir)
    check = partial(require_keys, keys=("spec", "curves", "ntk_twin", "arch"), what="record")
    found = (read_checked(p, check=check, keep=True) for p in sorted(root.glob("*.json")))
    recs = [r for r in found if r is not None and r.get("kind") == "network"]
    if not recs:
        raise FileNotFoundError(
            f"no network records in {root}; run `python train.py -m experiment=frequency_width "
            f"task.records_dir={root}` first"
        )
    specs = {repr({k: v for k, v in r["spec"].items() if k != "model"}) for r in recs}
    if len(specs) > 1:
        raise ValueError(f"{root} mixes records of different data or study options; keep one "
                         "sweep per records folder")  # fmt: skip
    return sorted(recs, key=lambda r: r["arch"]["width"])


def reference_curves(
    rec: dict[str, Any], kernels: dict[str, Callable[..., torch.Tensor]]
) -> dict[str, dict[str, Any]]:
    """Curves of `kernels` (pure kernel functions) on the data and options of record `rec`."""
    data, o = rec["spec"]["data"], rec["spec"]["study"]
    dm = instantiate(OmegaConf.create(data))
    dm.setup()
    fb = dm.full_batch()
    x, y = fb.x_train.double(), fb.y_train.double()
    ks = rec["frequencies"]
    proj = HarmonicProjector(x.numpy(), max(ks))
    kw = {k: o[k] for k in ("threshold", "lr", "max_steps", "n_log")}
    return {
        name: summarize_curves(kernel_curves(k(x, x), y, proj, ks, **kw), o["fit_kmin"])
        for name, k in kernels.items()
    }


def rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per width (see module doc)."""
    out = []
    for r in recs:
        c, twin = r["curves"], r["ntk_twin"]
        p, pt = c["fit"]["exponent"], twin["fit"]["exponent"]
        out.append({
            "width": r["arch"]["width"],
            "exponent": p,
            "ntk_twin_exponent": pt,
            "gap": None if p is None or pt is None else p - pt,
            "counts": c["counts"],
            "ntk_twin_counts": twin["counts"],
            "ntk_init_relative_error": c["extra"].get("ntk_init_relative_error"),
            "ntk_relative_change": c["extra"].get("ntk_relative_change"),
            "steps_run": c["extra"].get("steps_run"),
            "seconds": r.get("seconds"),
        })  # fmt: skip
    return out


def _f(v: Any, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def markdown(table: list[dict[str, Any]], freqs: list[int], refs: dict[str, float | None]) -> str:
    head = ("| width | exponent | gap to NTK twin | NTK init error | NTK change | "
            + " | ".join(f"k={k}" for k in freqs) + " | steps run | seconds |")  # fmt: skip
    lines = [head, "|" + "---|" * (7 + len(freqs))]
    for t in table:
        counts = " | ".join(_f(v, ".0f") for v in t["counts"])
        star = "" if None not in t["counts"] else "*"
        lines.append(
            f"| {t['width']} | {_f(t['exponent'], '.2f')}{star} | {_f(t['gap'], '+.2f')}{star} | "
            f"{_f(t['ntk_init_relative_error'], '.1%')} | {_f(t['ntk_relative_change'], '.2%')} | "
            f"{counts} | {t['steps_run']} | {_f(t['seconds'], '.0f')} |"
        )
    twin = table[0]
    twin_counts = " | ".join(_f(v, ".0f") for v in twin["ntk_twin_counts"])
    lines.append(f"| NTK twin | {_f(twin['ntk_twin_exponent'], '.2f')} | | | | {twin_counts} | | |")
    refs_line = ", ".join(f"{k} {_f(v, '.2f')}" for k, v in refs.items())
    notes = f"\n\nReference exponents (same data and study): {refs_line}.\n"
    if any(None in t["counts"] for t in table):
        notes += ("\n\\* fitted over the frequencies reached within task.max_steps (— : not "
                  "reached); the missing ones would only raise it.\n")  # fmt: skip
    return "\n".join(lines) + notes


def width_table_files(
    records_dir: str | Path,
    out_dir: str | Path | None = None,
    references: dict[str, Callable[..., torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Write the table (md, csv, json) and figure; return the JSON content."""
    from nvk.studies.frequency.plots import plot_width

    recs = load_width_records(records_dir)
    out = Path(out_dir) if out_dir else Path(records_dir).parent / "table"
    refs = reference_curves(recs[0], references or {"laplace": partial(laplace, c=1.0)})
    table = rows(recs)
    freqs = recs[0]["frequencies"]
    ref_exp = {k: v["fit"]["exponent"] for k, v in refs.items()}
    result = {"frequencies": freqs, "fit_kmin": recs[0]["spec"]["study"]["fit_kmin"],
              "rows": table, "references": ref_exp,
              "reference_counts": {k: v["counts"] for k, v in refs.items()}}  # fmt: skip
    md = markdown(table, freqs, ref_exp)
    atomic_write_text(out / "frequency_width.md", md)
    atomic_write_json(out / "frequency_width.json", result)
    header = "width,exponent,ntk_twin_exponent,gap,ntk_init_relative_error,ntk_relative_change,"
    header += ",".join(f"steps_k{k}" for k in freqs) + ",steps_run,seconds\n"
    atomic_write_text(out / "frequency_width.csv", header + "".join(
        ",".join("" if v is None else str(v) for v in (
            t["width"], t["exponent"], t["ntk_twin_exponent"], t["gap"],
            t["ntk_init_relative_error"], t["ntk_relative_change"], *t["counts"],
            t["steps_run"], t["seconds"])) + "\n" for t in table))  # fmt: skip
    plot_width(result, out / "frequency_width.png")
    print(md, flush=True)
    log.info("frequency_width table written to %s", out)
    return result


def width_table(
    cfg: DictConfig, *, records_dir: str, out_dir: str | None = None, references: Any = None
) -> dict[str, float]:
    """`python evaluate.py task=frequency_width`: the table from the records; returns
    {freq/width<w>/exponent, freq/width<w>/gap}."""
    kernels = {k: v if callable(v) else instantiate(v) for k, v in (references or {}).items()}
    result = width_table_files(records_dir, out_dir, kernels or None)
    out: dict[str, float] = {}
    for t in result["rows"]:
        for key in ("exponent", "gap"):
            if t[key] is not None:
                out[f"freq/width{t['width']}/{key}"] = t[key]
    return out


class WidthTableCallback(Callback):
    """Hydra callback: when the width sweep ends, write the table from `task.records_dir`."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        records_dir = config.task.get("records_dir")
        if not records_dir:
            log.warning("frequency_width: task.records_dir is not set; no table written")
            return
        try:
            width_table_files(records_dir)
        except FileNotFoundError as e:  # every job failed: their errors are already reported
            log.warning("frequency_width: %s", e)
