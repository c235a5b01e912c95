"""Finished runs of the frequency study kept in a records folder, so a sweep resumes.

`<records_dir>/<key>.json` holds one run's `frequency.json` record plus `spec` (everything that
determines it: data, model or kernel, study options, seed), `spec_hash` and `seconds`. The key
is the model's label, with `-width<w>` for a network (`experiment=frequency_width` sweeps
`arch.width`). A rerun of the same spec reuses the record instead of training again; a record
of another spec is refused (use another `task.records_dir`); a damaged one is set aside and
recomputed (`nvk.utils.io.read_checked`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from nvk.studies.common import model_spec, plain, spec_hash
from nvk.utils.io import atomic_write_json, read_checked, require_keys

VERSION = 1  # bump when a change of the code changes the records


def record_key(cfg: DictConfig, name: str) -> str:
    """`name`, or `name-width<w>` for a network (kernel models have no width)."""
    width = None if cfg.get("kernel") is not None else cfg.model.get("width")
    return name if width is None else f"{name}-width{int(width)}"


def record_spec(cfg: DictConfig, options: Any) -> dict[str, Any]:
    """What determines a run: data, model (network) or kernel, study options, seed."""
    kernel = cfg.get("kernel")
    return {
        "data": plain(cfg.data),
        "model": None if kernel is not None else model_spec(cfg.model),
        "kernel": plain(kernel),
        "study": asdict(options),
        "seed": cfg.get("seed"),
    }


def _check(rec: Any) -> None:
    require_keys(rec, ("spec_hash", "curves", "name", "frequencies"), what="frequency record")


def done_record(records_dir: str | Path, key: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The finished record `key` made with `spec`, or None (absent, or damaged: set aside).
    ValueError if the file there was made with another spec."""
    path = Path(records_dir) / f"{key}.json"
    rec = read_checked(path, check=_check)
    if rec is None:
        return None
    if rec["spec_hash"] != spec_hash(spec, VERSION):
        raise ValueError(
            f"{path} was made with another spec (hash {rec['spec_hash']!r}, now "
            f"{spec_hash(spec, VERSION)!r}: other data, model, study options or seed); use "
            "another task.records_dir, or move that file away to recompute it"
        )
    return rec


def write_record(
    records_dir: str | Path, key: str, spec: dict[str, Any], rec: dict[str, Any], seconds: float
) -> Path:
    """Atomically write `rec` with its spec, hash and wall seconds as `<records_dir>/<key>.json`."""
    out = {**rec, "spec": spec, "spec_hash": spec_hash(spec, VERSION), "seconds": seconds}
    return atomic_write_json(Path(records_dir) / f"{key}.json", out)
