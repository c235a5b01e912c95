"""Issue acceptance checks for kernel models on real data formats (UCI, CIFAR-10, sweeps)."""

from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.svm import SVC

from nvk.data import DataInfo, load_uci
from nvk.kernels import gaussian
from nvk.run import train
from nvk.solvers import SVCSolver
from tests.data.cifar_fixture import write_tiny_cifar10
from tests.data.test_uci import REAL, needs_real
from tests.test_cli import FAST, run


@needs_real
def test_nvk_gaussian_svc_equals_sklearn_rbf_svc_on_uci():
    ds = load_uci(REAL, "breast-cancer-wisc-diag")
    tr, te = ds.index_sets.folds[0]
    x, y = ds.x.double(), ds.y
    c, C = 0.05, 3.0
    s = SVCSolver(C=C, tol=1e-6)
    info = DataInfo("uci", (x.shape[1],), int(y.max()) + 1, "classification")

    def k(a, b):
        return gaussian(a, b, c=c)

    s.fit(k, x[tr], y[tr], info)
    ref = SVC(kernel="rbf", gamma=c, C=C, tol=1e-6).fit(x[tr].numpy(), y[tr].numpy())
    ours = s.predict(k, x[te]).argmax(1).numpy()
    assert np.array_equal(ours, ref.predict(x[te].numpy()))
    dec = ref.decision_function(x[te].numpy())
    torch.testing.assert_close(s.predict(k, x[te])[:, 1].numpy(), dec, rtol=1e-5, atol=1e-6)


def test_ntk_on_a_tiny_cifar10_folder(cfg_train, tmp_path):
    write_tiny_cifar10(tmp_path / "cifar")
    cfg = cfg_train("model=ntk", "data=cifar10", f"paths.cifar_dir={tmp_path / 'cifar'}",
                    "data.subset=20", "data.val_size=10", "solver.ridge=1e-3")  # fmt: skip
    m = train(cfg)
    assert {"test/acc", "val/acc", "test/loss"} <= set(m)


def test_kernel_optuna_search_runs(tmp_path):
    sweep = tmp_path / "kopt"
    run("train.py", "model=laplace", "hparams_search=kernel_optuna", "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.n_startup_trials=2", "logger=csv", *FAST[:-1],
        f"hydra.sweep.dir={sweep}")  # fmt: skip
    jobs = [p for p in sweep.iterdir() if (p / "metrics.json").is_file()]
    assert len(jobs) == 3
    cs = {json.loads((p / "provenance.json").read_text())["config_hash"] for p in jobs}
    assert len(cs) == 3  # three different (c, ridge) settings
