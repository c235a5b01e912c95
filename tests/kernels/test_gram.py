"""gram(): tiling, symmetry, devices, and the resumable disk cache (killed midway)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nvk.kernels import fc_ntk, gram, kernel_key, laplace
from tests.kernels.conftest import randn

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tile", [1, 7, 64])
def test_tiled_equals_direct(tile: int) -> None:
    x, z = randn(23, 4, seed=1), randn(17, 4, seed=2)
    k = functools.partial(fc_ntk, depth=3, bias=0.1)
    torch.testing.assert_close(gram(k, x, z, tile=tile), fc_ntk(x, z, depth=3, bias=0.1))
    sym = gram(k, x, tile=tile)
    assert torch.equal(sym, sym.T)
    torch.testing.assert_close(sym, fc_ntk(x, x, depth=3, bias=0.1))


def test_dtype_and_input_shapes() -> None:
    x = randn(10, 2, 3, seed=3, dtype=torch.float32)  # flattened to D = 6
    k = gram(laplace, x)
    assert k.dtype == torch.float64 and k.shape == (10, 10)
    torch.testing.assert_close(k, laplace(x.reshape(10, 6).double()))
    assert gram(laplace, x, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match="feature dimensions"):
        gram(laplace, x, randn(3, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x = randn(300, 8, seed=4)
    k = functools.partial(fc_ntk, depth=4)
    torch.testing.assert_close(gram(k, x, tile=128, device="cuda"), gram(k, x, tile=128))


def test_cache_key_distinguishes_kernels_parameters_and_data(tmp_path: Path) -> None:
    a = kernel_key(functools.partial(fc_ntk, depth=3))
    assert a != kernel_key(functools.partial(fc_ntk, depth=4))
    assert a != kernel_key(functools.partial(laplace, depth=3))
    with pytest.raises(ValueError, match="cache key"):
        kernel_key(lambda x, z: x @ z.T)
    x = randn(12, 3, seed=5)
    for depth in (2, 3):
        gram(functools.partial(fc_ntk, depth=depth), x, tile=4, cache_dir=tmp_path)
    gram(functools.partial(fc_ntk, depth=2), x + 1, tile=4, cache_dir=tmp_path)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3
    # a cached rerun returns the same matrix
    k = functools.partial(fc_ntk, depth=3)
    assert torch.equal(gram(k, x, tile=4, cache_dir=tmp_path), gram(k, x, tile=4))


CHILD = textwrap.dedent(
    """
    import functools, sys, time
    import torch
    from nvk.kernels import fc_ntk, gram

    def slow(x1, x2, **kw):  # a module-level kernel: stable cache key
        time.sleep(0.05)
        return fc_ntk(x1, x2, **kw)
    slow.cache_key = "slow_fc_ntk_depth5"

    x = torch.randn(96, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    print("ready", flush=True)
    gram(functools.partial(slow, depth=5), x, tile=8, cache_dir=sys.argv[1])
    """
)


def test_cache_survives_kill_and_resumes(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(cache)], env=env, cwd=ROOT)
    n_blocks = 12 * 13 // 2
    deadline = time.time() + 120
    done: list[Path] = []
    while time.time() < deadline and proc.poll() is None:
        done = list(cache.glob("*/r*_c*.pt"))
        if len(done) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(cache.glob("*/r*_c*.pt"))
    assert 0 < len(done) < n_blocks, len(done)
    stamps = {p: p.stat().st_mtime_ns for p in done}

    def slow(x1, x2, **kw):
        return fc_ntk(x1, x2, **kw)

    slow.cache_key = "slow_fc_ntk_depth5"
    x = torch.randn(96, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    resumed = gram(functools.partial(slow, depth=5), x, tile=8, cache_dir=cache)
    assert torch.equal(resumed, gram(functools.partial(fc_ntk, depth=5), x, tile=8))
    assert len(list(cache.glob("*/r*_c*.pt"))) == n_blocks
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # reused, not recomputed


def test_cheap_kernels_single_block_and_all_blocks_agree(tmp_path: Path) -> None:
    """Exponential kernels skip mirroring and run as one block; the tiled (cached) path and an
    explicitly mirrored run give the same matrix."""
    x = randn(29, 3, seed=6)
    one = gram(laplace, x, tile=4)  # single in-place block
    tiled = gram(laplace, x, tile=4, cache_dir=tmp_path)  # 8 × 8 blocks, all computed
    mirrored = gram(laplace, x, tile=4, mirror=True)
    torch.testing.assert_close(tiled, one, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(mirrored, one, rtol=1e-14, atol=1e-15)
    assert torch.equal(mirrored, mirrored.T)
    assert len(list(tmp_path.glob("*/r*_c*.pt"))) == 8 * 8
