"""End to end: `train.py model=mlp data=<uci|sphere|table|cifar10>` through the real configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvk.run import metric_value, train
from tests.data.cifar_fixture import write_tiny_cifar10
from tests.data.test_table import _frame
from tests.data.test_uci import REAL, needs_real

TINY = ("model.width=32", "trainer.max_epochs=1")


def _run(cfg) -> dict[str, float]:
    metrics = train(cfg)
    assert (Path(cfg.paths.output_dir) / "metrics.json").is_file()
    value = metric_value(metrics, cfg.optimized_metric)  # what train.py returns
    assert value is not None
    return metrics


@needs_real
def test_train_mlp_on_uci_iris(cfg_train) -> None:
    cfg = cfg_train("data=uci", "data.name=iris", f"paths.uci_dir={REAL}", *TINY)
    m = _run(cfg)
    assert {"val/acc", "test/acc", "test/auc"} <= set(m)


@needs_real
def test_train_mlp_on_uci_fold(cfg_train) -> None:
    cfg = cfg_train(
        "data=uci",
        "data.name=iris",
        "data.split=fold",
        "data.fold=2",
        f"paths.uci_dir={REAL}",
        *TINY,
    )
    assert "test/acc" in _run(cfg)


def test_train_mlp_on_sphere(cfg_train) -> None:
    cfg = cfg_train("data=sphere", "data.dim=3", "data.n=64", "data.n_test=64", *TINY)
    m = _run(cfg)
    assert cfg.optimized_metric == "val/mse"  # auto, resolved by the task
    assert {"val/mse", "test/mse"} <= set(m) and "test/acc" not in m


def test_train_mlp_on_table(cfg_train, tmp_path: Path) -> None:
    p = tmp_path / "animals.csv"
    _frame().to_csv(p, index=False)
    cfg = cfg_train(
        "data=table", f"data.path={p}", "data.label=species", "data.categorical=[color]", *TINY
    )
    assert "test/acc" in _run(cfg)


def test_train_mlp_on_tiny_cifar10(cfg_train, tmp_path: Path) -> None:
    write_tiny_cifar10(tmp_path / "cifar")
    cfg = cfg_train(
        "data=cifar10",
        f"paths.cifar_dir={tmp_path / 'cifar'}",
        "data.subset=20",
        "data.val_size=5",
        *TINY,
    )
    assert "test/acc" in _run(cfg)


def test_uci_name_typo_fails_before_training(cfg_train) -> None:
    if not REAL.is_dir():
        pytest.skip("UCI collection absent")
    cfg = cfg_train("data=uci", "data.name=irs", f"paths.uci_dir={REAL}", *TINY)
    with pytest.raises(ValueError, match=r"unknown UCI dataset data.name='irs'.*iris"):
        train(cfg)
