"""K_nM products over devices and processes: equal to the dense products and to one process."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nvk.data.base import DataInfo
from nvk.kernels import h_laplace
from nvk.solvers import FalkonOptions, FalkonSolver, falkon_fit, falkon_predict
from nvk.solvers.knm import KnM, resolve_devices, sample_centers

KERNEL = functools.partial(h_laplace, c=0.7)
OPTS = dict(centers=40, ridge=1e-4, tol=1e-13, maxiter=400, block=37)


def data(n: int = 301, d: int = 5):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.stack([torch.sin(X[:, 0]), X[:, 1] * X[:, 2]], 1)
    return X, Y


def test_products_equal_the_dense_formula_on_any_device_split():
    X, Y = data()
    C = data(40)[0] + 0.1  # no centre equals a row: no cusp of the kernel at distance 0
    u = torch.randn(40, 2, dtype=torch.float64)
    K = KERNEL(X, C)  # (n, M) formed here only as the reference
    for devices in (None, ["cpu", "cpu"], ["cpu", "cpu", "cpu"]):
        op = KnM(KERNEL, X, C, block=37, devices=devices)
        torch.testing.assert_close(op.gram_matvec(u), K.T @ (K @ u), rtol=1e-12, atol=1e-10)
        torch.testing.assert_close(op.t_matmul(Y), K.T @ Y, rtol=1e-12, atol=1e-10)


def test_fit_on_several_devices_equals_one_device():
    X, Y = data()
    one = falkon_fit(KERNEL, X, Y, FalkonOptions(**OPTS))
    two = falkon_fit(KERNEL, X, Y, FalkonOptions(devices=["cpu", "cpu"], **OPTS))
    torch.testing.assert_close(two.centers, one.centers, rtol=0, atol=0)
    torch.testing.assert_close(two.alpha, one.alpha, rtol=1e-8, atol=1e-8)


def test_device_names_are_checked():
    with pytest.raises(ValueError, match="'gpu0' is not a device name"):
        FalkonOptions(devices=["gpu0"])
    with pytest.raises(ValueError, match="use 'all'"):
        resolve_devices("everything", torch.device("cpu"))
    assert resolve_devices(None, torch.device("cpu")) == [torch.device("cpu")]


def test_distributed_needs_a_process_group():
    X, Y = data()
    with pytest.raises(RuntimeError, match="init_process_group"):
        falkon_fit(KERNEL, X, Y, FalkonOptions(distributed=True, **OPTS))


def _worker(rank: int, world: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        X, Y = data()
        rows = slice(rank * len(X) // world, (rank + 1) * len(X) // world)  # 150 / 151 rows
        opts = FalkonOptions(distributed=True, **OPTS)
        fit = falkon_fit(KERNEL, X[rows], Y[rows], opts)
        C = sample_centers(X[rows], 40, seed=0, distributed=True)
        solver = FalkonSolver(targets="raw", **{**OPTS, "distributed": True})
        info = DataInfo("toy", (5,), 2, "regression")
        solver.fit(KERNEL, X, Y, info)  # the whole set on every process; each takes its rows
        torch.save({"alpha": fit.alpha, "centers": fit.centers, "C": C,
                    "solver_alpha": solver.alpha}, f"{out}/rank{rank}.pt")  # fmt: skip
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two fresh interpreters importing torch + nvk: 20-120 s on 2 busy cores
def test_two_gloo_processes_give_the_one_process_solution(tmp_path: Path):
    """Acceptance: 2 CPU processes as devices = 1 process, to 1e-8 in float64."""
    mp.spawn(_worker, args=(2, f"file://{tmp_path}/rendezvous", str(tmp_path)), nprocs=2)
    X, Y = data()
    ref = falkon_fit(KERNEL, X, Y, FalkonOptions(**OPTS))
    pred = falkon_predict(KERNEL, X, ref)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(got["centers"], ref.centers, rtol=0, atol=0)
        torch.testing.assert_close(got["C"], ref.centers, rtol=0, atol=0)
        for key in ("alpha", "solver_alpha"):
            torch.testing.assert_close(got[key], ref.alpha, rtol=1e-8, atol=1e-8)
            p = KERNEL(X, ref.centers) @ got[key]
            assert float((p - pred).abs().max()) <= 1e-8 * float(pred.abs().max())
