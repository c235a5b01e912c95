"""Provenance record of a run: git commit, config hash, package versions, machine."""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PACKAGES = (
    "nvk", "torch", "torchvision", "lightning", "torchmetrics", "hydra-core", "omegaconf",
    "wandb", "gpytorch", "pykeops", "scikit-learn", "scipy", "numpy", "pandas",
)  # fmt: skip

# Config keys that change between identical experiments (where files go), left out of the hash.
_VOLATILE = ("paths", "hydra")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_state(repo: str | Path | None = None) -> dict[str, Any]:
    """Commit hash and dirty flag of the git work tree holding `repo` (None if not in git)."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parents[3]

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
            )
            return r.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def config_hash(cfg: DictConfig | dict) -> str:
    """sha256 of the resolved config without `paths`/`hydra`: equal for equal experiments."""
    c = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg.copy()
    container = OmegaConf.to_container(c, resolve=True, throw_on_missing=False)
    assert isinstance(container, dict)
    for k in _VOLATILE:
        container.pop(k, None)
    blob = OmegaConf.to_yaml(OmegaConf.create(container), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def provenance(cfg: DictConfig) -> dict[str, Any]:
    return {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "git": git_state(),
        "config_hash": config_hash(cfg),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
