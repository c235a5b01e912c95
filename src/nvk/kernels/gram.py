"""Gram matrices at scale: `gram(kernel, X1, X2=None)` tiled, float64, optionally disk-cached.

The (N, M) matrix is computed in (tile × tile) blocks on `device` (CPU or CUDA) and assembled
on the CPU, so peak device memory is a few tiles whatever N and M are. With `X2=None` only the
upper block triangle is computed and mirrored (diagonal blocks pass the same tensor twice, so
translation-invariant kernels get an exact diagonal, and are symmetrized); see `mirror`.

With `cache_dir`, each finished block is written atomically (temporary file + `os.replace`) to
`cache_dir/<key>/`, key = SHA-256 of (kernel identity and parameters, dtype, tile, data bytes
and shapes). A rerun after an interruption loads the finished blocks and computes only the
rest, so the result is identical to an uninterrupted run. Every study (UCI, convolutional,
large-scale) uses this one mechanism.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

CACHE_VERSION = 1  # bump when a kernel formula changes, to invalidate old caches


def _value_key(v: Any) -> Any:
    if isinstance(v, Tensor):
        return {"tensor": _data_hash(v)}
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int, str, bool, type(None))):
        return v
    if isinstance(v, (list, tuple)):
        return [_value_key(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value_key(x) for k, x in sorted(v.items())}
    if callable(v):
        return kernel_key(v)
    return repr(v)


def kernel_key(kernel: Callable[..., Tensor]) -> str:
    """A stable description of a kernel callable: qualified name + bound parameters.

    Supports plain functions, `functools.partial` (what Hydra's `_partial_: true` builds) and
    objects with a `cache_key` attribute (str or zero-argument method).
    """
    ck = getattr(kernel, "cache_key", None)
    if ck is not None:
        return str(ck() if callable(ck) else ck)
    if isinstance(kernel, functools.partial):
        base = kernel_key(kernel.func)
        params = {"args": _value_key(list(kernel.args)), "kw": _value_key(dict(kernel.keywords))}
        return f"{base}{json.dumps(params, sort_keys=True)}"
    module, qual = getattr(kernel, "__module__", None), getattr(kernel, "__qualname__", None)
    if module is None or qual is None or "<lambda>" in qual or "<locals>" in qual:
        raise ValueError(
            f"cannot derive a cache key for {kernel!r}; give it a `cache_key` attribute, use a "
            "module-level function or functools.partial, or pass key=..."
        )
    return f"{module}.{qual}"


def _data_hash(x: Tensor) -> str:
    h = hashlib.sha256()
    h.update(f"{tuple(x.shape)}|{x.dtype}".encode())
    h.update(x.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _atomic_save(t: Tensor, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(t, tmp)
    os.replace(tmp, path)


def gram(
    kernel: Callable[..., Tensor],
    X1: Tensor,
    X2: Tensor | None = None,
    *,
    tile: int = 2048,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = None,
    key: str | None = None,
    progress: bool = False,
    mirror: bool | None = None,
) -> Tensor:
    """K[i, j] = kernel(X1[i], X2[j]), X1 (N, …), X2 (M, …) → (N, M) on the CPU in `dtype`.

    Args:
        kernel: k(x1 (n, D), x2 (m, D)) → (n, m), e.g. `functools.partial(fc_ntk, depth=3)`.
            Inputs are flattened to (N, D) and cast to `dtype` before the kernel sees them.
        X2: None for the symmetric K(X1, X1) (only the upper block triangle is computed).
        tile: block edge; peak device memory ≈ a few tile² × itemsize × kernel temporaries.
        device: where blocks are computed (default: X1's device).
        cache_dir: write finished blocks here and reuse them on rerun (see module docstring).
        key: overrides the kernel part of the cache key (for callables without a stable name).
        progress: show a tqdm progress bar over blocks.
        mirror: for X2=None, compute the upper block triangle only, symmetrize the diagonal
            blocks and mirror (an exactly symmetric result). None: the kernel's `gram_mirror`
            attribute, else True. Cheap kernels (the exponential family) set it False since a
            transposed copy costs about as much as computing them: all blocks are computed
            then (symmetric up to rounding; diagonal blocks still see the same tensor twice).
            Kernels with `gram_single_buffer = True` (they work in place in their output) are
            computed as one block on the CPU when no cache is used.
    """
    if tile < 1:
        raise ValueError(f"gram: tile must be >= 1, got {tile}")
    sym = X2 is None
    dev = torch.device(device) if device is not None else X1.device
    func = kernel.func if isinstance(kernel, functools.partial) else kernel
    if mirror is None:
        mirror = bool(getattr(func, "gram_mirror", True))
    if getattr(func, "gram_single_buffer", False) and cache_dir is None and dev.type == "cpu":
        # the kernel needs no buffer beyond its (N, M) output: one block is the fastest and
        # uses no more memory than the result itself
        tile = max(tile, len(X1), len(X1) if X2 is None else len(X2))
    half = sym and mirror
    A = X1.reshape(len(X1), -1)
    B = A if sym else X2.reshape(len(X2), -1)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"gram: feature dimensions differ: {A.shape[1]} vs {B.shape[1]}")
    N, M = len(A), len(B)
    out = torch.empty((N, M), dtype=dtype)
    blocks = [(i, j) for i in range(0, N, tile) for j in range(0, M, tile) if not half or j >= i]
    folder = None
    if cache_dir is not None:
        ident = {
            "version": CACHE_VERSION,
            "kernel": key if key is not None else kernel_key(kernel),
            "dtype": str(dtype),
            "tile": tile,
            "mirror": half,
            "X1": _data_hash(X1),
            "X2": "symmetric" if sym else _data_hash(X2),
        }
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]
        folder = Path(cache_dir) / digest
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "meta.json"
        if not meta.exists():
            tmp = folder / f".meta.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({**ident, "shape": [N, M]}, indent=1))
            os.replace(tmp, meta)
    Ad = A.to(device=dev, dtype=dtype)
    Bd = Ad if sym else B.to(device=dev, dtype=dtype)
    if len(blocks) == 1 and folder is None and not half:  # one block: no assembly copy
        with torch.no_grad():
            return kernel(Ad, Ad if sym else Bd).to(device="cpu", dtype=dtype).contiguous()
    with torch.no_grad():
        for i, j in tqdm(blocks, disable=not progress, desc="gram", unit="block"):
            path = folder / f"r{i}_c{j}.pt" if folder is not None else None
            if path is not None and path.exists():
                blk = torch.load(path, map_location="cpu", weights_only=True)
            else:
                xa = Ad[i : i + tile]
                xb = xa if (sym and i == j) else Bd[j : j + tile]
                blk = kernel(xa, xb).to(device="cpu", dtype=dtype)
                if half and i == j:  # exact symmetry despite rounding (e.g. arccos near ρ = 1)
                    view = out[i : i + blk.shape[0], j : j + blk.shape[1]]
                    blk = torch.add(blk, blk.T, out=view).mul_(0.5)
                if path is not None:
                    _atomic_save(blk, path)
            if not (half and i == j) or path is not None:
                out[i : i + blk.shape[0], j : j + blk.shape[1]] = blk
            if half and j != i:
                out[j : j + blk.shape[1], i : i + blk.shape[0]] = blk.T
    return out
