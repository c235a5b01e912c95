"""Gram blocks as independent jobs (gram_part) assembled into one memory-mapped matrix, and
resuming after an interruption, with the convolutional kernels (issue 11)."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nvk.kernels import assemble_gram, cexp, cntk, gram, gram_part
from tests.kernels.conftest import randn

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("symmetric", [True, False])
def test_jobs_assembled_into_memmap_equal_one_gram_call(tmp_path, symmetric):
    x, z = randn(7, 1, 4, 4, seed=0), randn(5, 1, 4, 4, seed=1)
    k = functools.partial(cntk, depth=2)
    x2 = None if symmetric else z
    ref = gram(k, x, x2, tile=3)
    folders = {gram_part(k, x, x2, job=j, jobs=3, tile=3, cache_dir=tmp_path) for j in range(3)}
    assert len(folders) == 1  # every job writes into the same cache folder
    mm = assemble_gram(folders.pop(), tmp_path / "K.npy")
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    np.testing.assert_array_equal(mm, ref.numpy())
    # gram with the same cache finds every block and computes nothing
    calls = []

    def counting(a, b):
        calls.append(1)
        return k(a, b)

    cached = gram(counting, x, x2, tile=3, cache_dir=tmp_path, key=_key(k))
    assert calls == [] and torch.equal(cached, ref)


def _key(k) -> str:
    from nvk.kernels import bind_image_shape, kernel_key

    return kernel_key(bind_image_shape(k, (1, 4, 4)))


def test_assemble_names_missing_blocks(tmp_path):
    x = randn(6, 1, 3, 3, seed=2)
    k = functools.partial(cexp, depth=2)
    folder = gram_part(k, x, job=0, jobs=2, tile=2, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"3 of 6 blocks missing.*job k % jobs"):
        assemble_gram(folder, tmp_path / "K.npy")
    with pytest.raises(FileNotFoundError, match=r"meta\.json"):
        assemble_gram(tmp_path / "nowhere", tmp_path / "K.npy")
    with pytest.raises(ValueError, match="job"):
        gram_part(cntk, x, job=2, jobs=2, cache_dir=tmp_path)


class _Interrupted(RuntimeError):
    pass


def test_interrupted_job_rerun_gives_identical_matrix(tmp_path):
    x = randn(9, 2, 4, 4, seed=3)
    k = functools.partial(cexp, depth=3, gamma=1.5, image_shape=(2, 4, 4))
    ref = gram(k, x, tile=2)
    done = []

    def dies_after_four_blocks(a, b):
        if len(done) == 4:
            raise _Interrupted
        done.append(1)
        return k(a, b)

    with pytest.raises(_Interrupted):
        gram(dies_after_four_blocks, x, tile=2, cache_dir=tmp_path, key="cexp-test")
    rerun = []

    def counting(a, b):
        rerun.append(1)
        return k(a, b)

    again = gram(counting, x, tile=2, cache_dir=tmp_path, key="cexp-test")
    assert len(rerun) == 15 - 4  # 5·6/2 upper blocks; the 4 finished ones are loaded
    assert torch.equal(again, ref)


_JOB = """
import sys, time, torch
from nvk.kernels import cntk, gram_part
torch.set_num_threads(int(sys.argv[2]))  # the parent's: BLAS rounding depends on the split
x = torch.randn(24, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

def paced(a, b):  # an idle machine finishes all 21 blocks before the parent can kill the job
    time.sleep(0.5)
    return cntk(a, b, depth=4, image_shape=(3, 8, 8))  # gram hands it flattened rows

gram_part(paced, x, tile=4, cache_dir=sys.argv[1], key="cntk-killed")
"""


@pytest.mark.slow
def test_killed_job_process_rerun_gives_identical_matrix(tmp_path):
    """SIGKILL a real tile job once it has written a block; rerunning completes the same matrix
    (bitwise, with the same thread count: blocks from other machines agree to rounding)."""
    threads = str(torch.get_num_threads())
    proc = subprocess.Popen([sys.executable, "-c", _JOB, str(tmp_path), threads], cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(tmp_path.glob("*/r*_c*.pt")):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    blocks = list(tmp_path.glob("*/r*_c*.pt"))
    assert 0 < len(blocks) < 21, "the job was not killed part-way"
    x = torch.randn(24, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k = functools.partial(cntk, depth=4)
    folder = gram_part(k, x, tile=4, cache_dir=tmp_path, key="cntk-killed")
    mm = assemble_gram(folder, tmp_path / "K.npy")
    np.testing.assert_array_equal(mm, gram(k, x, tile=4).numpy())
