"""Helpers every study shares: plain config values, spec hashes, fixed rounding, figures."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nvk.utils.io import atomic_write_bytes

DIGITS = 12  # stored accuracies: ratios of small integers, exact enough to compare at 12 places


def plain(x: Any) -> Any:
    """An OmegaConf container as plain (resolved) dicts and lists; anything else as it is."""
    return OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x


def spec_hash(spec: dict[str, Any], version: int) -> str:
    """sha256 (16 hex digits) of a record's spec and its format version (sorted keys)."""
    blob = json.dumps({"version": version, "spec": spec}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: a study's wall time from its cells'."""
    total, covered = 0.0, float("-inf")  # by start; count only what lies past `covered`
    for a, b in sorted(intervals):
        total += max(0.0, b - max(a, covered))
        covered = max(covered, b)
    return total


def rounded(x: float) -> float:
    """The fixed rounding of every stored accuracy (`DIGITS` decimals)."""
    return round(float(x), DIGITS)


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """`fig` as a PNG at `path`, written atomically (the whole file or none), then closed;
    `savefig`: matplotlib's options as the study chooses them (dpi, bbox_inches, metadata)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
