"""Every option of every config group composes, and the buildable ones instantiate."""

from __future__ import annotations

import lightning as L
import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nvk.data import DigitsDataModule
from nvk.layers import Layer
from nvk.run import build
from tests.conftest import CONF, ROOT, compose_cfg

# Options that need a value only the user can give (a path, a label column) get it here.
EXTRA: dict[str, list[str]] = {
    "data/table": [
        f"data.path={ROOT}/docs/examples/toy_table.csv",
        "data.label=label",
        "data.categorical=[color]",
    ],
    # a synthetic folder in the collection's format, so this runs without the real one
    "data/uci": [f"paths.uci_dir={ROOT}/tests/data/fixtures/uci", "data.name=toy"],
    "experiment/uci_table1": [f"paths.uci_dir={ROOT}/tests/data/fixtures/uci", "data.name=toy"],
    "model/cnn": ["data.flatten=false"],  # a CNN needs images (digits as 1x8x8)
    # the default model=mlp is the network of arch=mlp; the image archs' network is model=net
    "arch/cnn": ["model=net"],
    "arch/myrtle5": ["model=net"],
    "arch/resnet": ["model=net"],
}
# Options that need hardware this machine may not have: composed and checked, not built.
HARDWARE = {"trainer/gpu", "trainer/ddp"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def all_group_options(config: str) -> list[tuple[str, str]]:
    skip = {"hydra", "task"} if config == "train" else {"hydra"}
    groups = [p.name for p in CONF.iterdir() if p.is_dir() and p.name not in skip]
    if config == "eval":
        groups = ["task"]
    return [(g, o) for g in sorted(groups) for o in options(g)]


def test_every_group_has_options():
    for group in ("data", "model", "arch", "trainer", "logger", "paths", "hydra", "callbacks",
                  "experiment", "hparams_search", "debug", "task"):  # fmt: skip
        assert options(group), f"conf/{group}/ is empty"


@pytest.mark.parametrize(("group", "option"), all_group_options("train"))
def test_train_group_option_composes_and_instantiates(group, option, tmp_path):
    key = f"{group}/{option}"
    cfg = compose_cfg("train", [f"{group}={option}", *EXTRA.get(key, [])], tmp_path)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    if key in HARDWARE:
        assert cfg.trainer.accelerator == "gpu"
        return
    dm = instantiate(cfg.data)
    assert hasattr(dm, "full_batch") and hasattr(dm, "info")
    if isinstance(dm, DigitsDataModule):
        build(cfg.model, info=dm.info)
    for sub in ("callbacks", "logger"):
        for c in (cfg.get(sub) or {}).values():
            if c is not None:
                instantiate(c)
    if cfg.get("kernel") is not None:
        instantiate(cfg.kernel)
    if cfg.get("arch") is not None:  # a preset call lacking `out`, the data's outputs
        assert isinstance(instantiate(cfg.arch)(out=dm.info.num_outputs), Layer)
    if cfg.get("solver") is not None:
        instantiate(cfg.solver)
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert isinstance(trainer, L.Trainer)


@pytest.mark.parametrize(("group", "option"), all_group_options("eval"))
def test_eval_task_composes(group, option, tmp_path):
    cfg = compose_cfg("eval", [f"{group}={option}", "ckpt_path=x.ckpt"], tmp_path)
    assert callable(instantiate(cfg.task))


def test_each_multirun_job_gets_its_own_subdirectory(tmp_path):
    compose_cfg("train", [], tmp_path)
    from hydra.core.hydra_config import HydraConfig

    sweep = OmegaConf.to_container(HydraConfig.get().sweep, resolve=False)
    assert sweep["subdir"] == "${hydra.job.num}"
    assert "${task_name}" in sweep["dir"] and "${now:" in sweep["dir"]


def test_unknown_group_option_and_key_raise_hydras_errors(tmp_path):
    with pytest.raises(MissingConfigException, match="no_such_data"):
        compose_cfg("train", ["data=no_such_data"], tmp_path)
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose_cfg("train", ["model.no_such_key=3"], tmp_path)
