"""Convolutional study (nvk.studies.conv): image kernel models and the CNN through train.py's
pipeline on a tiny CIFAR-10 folder, Gram tile jobs assembled into one memmap, Table 3."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nvk.data.digits import DigitsDataModule
from nvk.kernels import cexp, cntk, gram
from nvk.run import train
from nvk.solvers import KRRSolver
from tests.conftest import compose_cfg
from tests.data.cifar_fixture import write_tiny_cifar10

TINY = ["data=cifar10", "data.subset=12", "data.val_size=6", "data.test_subset=8"]


@pytest.fixture
def cifar(tmp_path: Path) -> str:
    write_tiny_cifar10(tmp_path / "cifar", per_batch=6, n_test=8)
    return f"paths.cifar_dir={tmp_path / 'cifar'}"


def _run(cfg_train, out: Path, *overrides: str) -> dict[str, float]:
    cfg = cfg_train(*overrides)
    cfg.paths.output_dir = str(out)
    metrics = train(cfg)
    (out / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")  # what a Hydra run leaves behind
    return metrics


def test_kernel_and_cnn_runs_then_table3_side_by_side(cfg_train, cifar, tmp_path):
    runs = tmp_path / "logs"
    shrink = ["kernel.depth=2"]
    m_cntk = _run(cfg_train, runs / "a", "model=cntk", cifar, *TINY, *shrink)
    m_cexp = _run(cfg_train, runs / "b", "model=cexp_gamma_exp", cifar, *TINY, *shrink)
    m_cnn = _run(cfg_train, runs / "c", "model=cnn", cifar, *TINY, "model.channels=4",
                 "model.depth=2")  # fmt: skip
    for m in (m_cntk, m_cexp, m_cnn):
        assert {"test/acc", "val/acc", "test/loss"} <= set(m)
    cfg = compose_cfg("eval", ["task=table3", "ckpt_path=unused"], tmp_path / "table")
    cfg.task.runs_dir = str(runs)
    out = instantiate(cfg.task)(cfg)
    assert out == {
        "table3/cifar10/12/cntk/acc": m_cntk["test/acc"],
        "table3/cifar10/12/cexp_gamma_exp/acc": m_cexp["test/acc"],
        "table3/cifar10/12/cnn/acc": m_cnn["test/acc"],
    }
    md = (tmp_path / "table" / "table3.md").read_text()
    assert "| data | subset | cnn | cntk | cexp_gamma_exp |" in md
    assert (tmp_path / "table" / "table3.csv").read_text().startswith("data,subset,cnn,cntk,")


def test_table3_without_runs_names_the_folder(tmp_path):
    cfg = compose_cfg("eval", ["task=table3", "ckpt_path=unused"], tmp_path)
    cfg.task.runs_dir = str(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="empty"):
        instantiate(cfg.task)(cfg)


def test_gram_tile_jobs_then_assemble_equal_the_direct_gram(cifar, tmp_path):
    base = ["experiment=conv_gram", "kernel.depth=2", cifar, *TINY, "model.tile=5",
            "task.jobs=2", "task.progress=false", "task.split=test"]  # fmt: skip
    for job in (0, 1):
        cfg = compose_cfg("train", [*base, f"task.job={job}"], tmp_path / f"job{job}")
        cfg.paths.cache_dir = str(tmp_path / "cache")
        instantiate(cfg.task)(cfg)
    cfg = compose_cfg("train", [*base, "task.action=assemble"], tmp_path / "asm")
    cfg.paths.cache_dir = str(tmp_path / "cache")
    cfg.task.out = str(tmp_path / "K.npy")
    res = instantiate(cfg.task)(cfg)
    assert res["gram/rows"] == 8 and res["gram/cols"] == 12
    dm = instantiate(cfg.data)
    dm.setup()
    d = dm.full_batch()
    k = functools.partial(cntk, depth=2)
    got = np.load(tmp_path / "K.npy", mmap_mode="r")
    np.testing.assert_array_equal(got, gram(k, d.x_test, d.x_train, tile=5).numpy())
    np.testing.assert_allclose(
        got, k(d.x_test.double(), d.x_train.double()).numpy(), rtol=1e-13
    )  # one block


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel",
    [
        functools.partial(cntk, depth=3),
        functools.partial(cexp, depth=3, gamma=1.0),
        functools.partial(cexp, depth=3, gamma=2.0),
        functools.partial(cexp, depth=3, gamma=1.5),
    ],
    ids=["cntk", "cexp_laplace", "cexp_gaussian", "cexp_gamma_exp"],
)
def test_digits_accuracy_at_least_095(kernel):
    """Issue 11 acceptance: KRR (centered targets, λ = 0) on 8×8 digits images."""
    dm = DigitsDataModule(flatten=False, seed=42)
    dm.setup()
    d = dm.full_batch()
    k = functools.partial(gram, functools.partial(kernel, image_shape=(1, 8, 8)))
    solver = KRRSolver(targets="centered")
    solver.fit(k, d.x_train, d.y_train, dm.info)
    acc = (solver.predict(k, d.x_test).argmax(1) == d.y_test).double().mean()
    assert float(acc) >= 0.95
