"""Shared fixtures: compose the real Hydra config and shrink it for tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(min(2, os.cpu_count() or 1))


def compose_cfg(
    config_name: str, overrides: list[str], tmp_path: Path, *, hydra_cfg: bool = True
) -> DictConfig:
    """Compose conf/<config_name>.yaml with overrides; outputs under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=hydra_cfg)
        if hydra_cfg:
            HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.pop("hydra", None)  # as in a real run: Hydra keeps its own node out of the job's cfg
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.work_dir = str(ROOT)
        cfg.paths.cache_dir = str(tmp_path / "cache")
    return cfg


@pytest.fixture
def cfg_train(tmp_path: Path) -> Callable[..., DictConfig]:
    """cfg_train(*overrides): the train config, tiny and fast (CPU, 1 epoch, no W&B)."""

    def make(*overrides: str) -> DictConfig:
        base = [
            "trainer=cpu",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "callbacks.rich_progress_bar=null",
            "logger=csv",
        ]
        return compose_cfg("train", base + list(overrides), tmp_path)

    return make


@pytest.fixture(scope="session", autouse=True)
def keops_cache() -> Path:
    """KeOps compiles each formula once (seconds): into the project cache, reused across runs."""
    from nvk.kernels.keops import defer_keops_cache

    path = ROOT / ".cache" / "nvk" / "keops"
    defer_keops_cache(path)
    return path
