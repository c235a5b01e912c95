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

At cluster scale `gram_part(..., job=k, jobs=J)` computes every J-th block into the same cache
folder (independent Hydra multirun jobs) and `assemble_gram` writes the finished blocks into one
memory-mapped .npy matrix.

Every block read back is checked (the CRC-32 of its archive, then a tensor of the block's
shape and dtype);
a damaged one (a full disk, a bad copy) is moved aside as `<name>.damaged-<time>` with a
warning naming it, and computed again. A damaged `meta.json` is set aside and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from nvk.kernels.registry import gram_hints, input_kind
from nvk.utils.io import DamagedFileError, load_torch_checked, read_checked, require_keys

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


def _load_block(path: Path, shape: tuple[int, int], dtype: torch.dtype) -> Tensor | None:
    """The cached block at `path`, or None if absent or damaged (then set aside)."""

    def check(blk: Any) -> None:
        if not isinstance(blk, Tensor) or tuple(blk.shape) != shape or blk.dtype != dtype:
            found = (type(blk).__name__, getattr(blk, "shape", None), getattr(blk, "dtype", None))
            raise DamagedFileError(f"expected a {dtype} tensor of shape {shape}, found {found}")

    return read_checked(path, load_torch_checked, check)


def _check_meta(meta: Any) -> None:
    require_keys(meta, ("shape", "tile", "mirror", "dtype"), "Gram cache meta.json")


def _block_shape(i: int, j: int, N: int, M: int, tile: int) -> tuple[int, int]:
    return min(tile, N - i), min(tile, M - j)


def _atomic_save(t: Tensor, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(t, tmp)
    os.replace(tmp, path)


Kernel = Callable[..., Tensor]


def bind_image_shape(kernel: Kernel, shape: tuple[int, ...]) -> Kernel:
    """For image kernels (registry entry with `inputs == "images"`, e.g. `cntk`, `cexp`) without
    a bound `image_shape`: `partial(kernel, image_shape=shape)` when `shape` is (C, H, W), so
    they can read the flattened rows `gram` and the solvers pass; any other kernel is returned
    as is."""
    bound = kernel.keywords.get("image_shape") if isinstance(kernel, functools.partial) else None
    if input_kind(kernel) == "images" and bound is None and len(shape) == 3:
        return functools.partial(kernel, image_shape=tuple(int(s) for s in shape))
    return kernel


def _mirror(kernel: Kernel, mirror: bool | None) -> bool:
    return gram_hints(kernel).mirror if mirror is None else mirror


def _cache_folder(
    cache_dir: str | os.PathLike,
    kernel: Kernel,
    key: str | None,
    X1: Tensor,
    X2: Tensor | None,
    *,
    dtype: torch.dtype,
    tile: int,
    half: bool,
) -> Path:
    """`cache_dir/<digest>/` with meta.json (the identity below + shape), created if absent."""
    ident = {
        "version": CACHE_VERSION,
        "kernel": key if key is not None else kernel_key(kernel),
        "dtype": str(dtype),
        "tile": tile,
        "mirror": half,
        "X1": _data_hash(X1),
        "X2": "symmetric" if X2 is None else _data_hash(X2),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]
    folder = Path(cache_dir) / digest
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "meta.json"
    if read_checked(meta, check=_check_meta) is None:
        shape = [len(X1), len(X1) if X2 is None else len(X2)]
        tmp = folder / f".meta.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({**ident, "shape": shape}, indent=1))
        os.replace(tmp, meta)
    return folder


def _blocks(N: int, M: int, tile: int, half: bool) -> list[tuple[int, int]]:
    return [(i, j) for i in range(0, N, tile) for j in range(0, M, tile) if not half or j >= i]


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
            Inputs are flattened to (N, D) and cast to `dtype` before the kernel sees them
            (image kernels get X1's (C, H, W) as `image_shape`, see `bind_image_shape`).
        X2: None for the symmetric K(X1, X1) (only the upper block triangle is computed).
        tile: block edge; peak device memory ≈ a few tile² × itemsize × kernel temporaries.
        device: where blocks are computed (default: X1's device).
        cache_dir: write finished blocks here and reuse them on rerun (see module docstring).
        key: overrides the kernel part of the cache key (for callables without a stable name).
        progress: show a tqdm progress bar over blocks.
        mirror: for X2=None, compute the upper block triangle only, symmetrize the diagonal
            blocks and mirror (an exactly symmetric result). None: the kernel's registry
            entry decides (`nvk.kernels.registry.GramHints.mirror`; True for a callable nvk
            does not know). Cheap kernels (the exponential family) say False since a
            transposed copy costs about as much as computing them: all blocks are computed
            then (symmetric up to rounding; diagonal blocks still see the same tensor twice).
            Kernels whose entry has `GramHints.single_buffer` (they work in place in their
            output) are computed as one block on the CPU when no cache is used.
    """
    if tile < 1:
        raise ValueError(f"gram: tile must be >= 1, got {tile}")
    sym = X2 is None
    kernel = bind_image_shape(kernel, tuple(X1.shape[1:]))
    dev = torch.device(device) if device is not None else X1.device
    mirror = _mirror(kernel, mirror)
    if gram_hints(kernel).single_buffer and cache_dir is None and dev.type == "cpu":
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
    blocks = _blocks(N, M, tile, half)
    folder = None
    if cache_dir is not None:
        folder = _cache_folder(cache_dir, kernel, key, X1, X2, dtype=dtype, tile=tile, half=half)
    Ad = A.to(device=dev, dtype=dtype)
    Bd = Ad if sym else B.to(device=dev, dtype=dtype)
    if len(blocks) == 1 and folder is None and not half:  # one block: no assembly copy
        with torch.no_grad():
            return kernel(Ad, Ad if sym else Bd).to(device="cpu", dtype=dtype).contiguous()
    with torch.no_grad():
        for i, j in tqdm(blocks, disable=not progress, desc="gram", unit="block"):
            path = folder / f"r{i}_c{j}.pt" if folder is not None else None
            blk = None if path is None else _load_block(path, _block_shape(i, j, N, M, tile), dtype)
            if blk is None:
                xa = Ad[i : i + tile]
                xb = xa if (sym and i == j) else Bd[j : j + tile]
                blk = kernel(xa, xb).to(device="cpu", dtype=dtype)
                if half and i == j:  # exact symmetry despite rounding (e.g. arccos near ρ = 1)
                    view = out[i : i + blk.shape[0], j : j + blk.shape[1]]
                    blk = torch.add(blk, blk.T, out=view).mul_(0.5)
                if path is not None:  # a view of `out` would save all of out's storage
                    _atomic_save(blk.clone() if blk._base is not None else blk, path)
            if not (half and i == j) or path is not None:
                out[i : i + blk.shape[0], j : j + blk.shape[1]] = blk
            if half and j != i:
                out[j : j + blk.shape[1], i : i + blk.shape[0]] = blk.T
    return out


def gram_part(
    kernel: Kernel,
    X1: Tensor,
    X2: Tensor | None = None,
    *,
    job: int = 0,
    jobs: int = 1,
    cache_dir: str | os.PathLike,
    tile: int = 2048,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    key: str | None = None,
    progress: bool = False,
    mirror: bool | None = None,
) -> Path:
    """One of `jobs` independent jobs of `gram(...)` with the same arguments: computes the
    blocks job, job + jobs, job + 2·jobs, … (those not cached yet) into `gram`'s cache folder
    and returns that folder. Jobs share nothing but the folder (each block is written
    atomically), so they can run as Hydra multirun jobs (joblib, SLURM); afterwards `gram(...)`
    with the same `cache_dir` loads every block, or `assemble_gram(folder, path)` writes them
    into one memory-mapped .npy file. Killed jobs resume where they stopped when rerun."""
    if not isinstance(jobs, int) or jobs < 1 or not isinstance(job, int) or not 0 <= job < jobs:
        raise ValueError(f"gram_part: need 0 <= job < jobs, got job={job!r}, jobs={jobs!r}")
    if tile < 1:
        raise ValueError(f"gram_part: tile must be >= 1, got {tile}")
    kernel = bind_image_shape(kernel, tuple(X1.shape[1:]))
    half = X2 is None and _mirror(kernel, mirror)
    dev = torch.device(device) if device is not None else X1.device
    A = X1.reshape(len(X1), -1).to(device=dev, dtype=dtype)
    B = A if X2 is None else X2.reshape(len(X2), -1).to(device=dev, dtype=dtype)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"gram_part: feature dimensions differ: {A.shape[1]} vs {B.shape[1]}")
    folder = _cache_folder(cache_dir, kernel, key, X1, X2, dtype=dtype, tile=tile, half=half)
    N, M = len(A), len(B)
    mine = _blocks(N, M, tile, half)[job::jobs]
    with torch.no_grad():
        for i, j in tqdm(mine, disable=not progress, desc=f"gram job {job}", unit="block"):
            path = folder / f"r{i}_c{j}.pt"
            if path.exists():  # finished; its reader (gram, assemble_gram) checks it and
                continue  # sets a damaged one aside, so the job's next run recomputes it
            xa = A[i : i + tile]
            blk = kernel(xa, xa if (half and i == j) else B[j : j + tile]).to("cpu", dtype)
            if half and i == j:  # as in gram: exactly symmetric diagonal blocks
                blk = blk.add(blk.T).mul_(0.5)
            _atomic_save(blk, path)
    return folder


def assemble_gram(folder: str | os.PathLike, path: str | os.PathLike) -> np.memmap:
    """Write the blocks in a `gram`/`gram_part` cache folder into one .npy file at `path`
    (written to a temporary name, then renamed) and return it memory-mapped read-only (N, M).
    Missing blocks raise FileNotFoundError naming them and the job that computes them; damaged
    ones are set aside first, so they count as missing (rerun that job)."""
    folder, path = Path(folder), Path(path)
    meta_path = folder / "meta.json"
    meta = read_checked(meta_path, check=_check_meta)
    if meta is None:
        raise FileNotFoundError(f"assemble_gram: {meta_path} not found; run gram_part first")
    (N, M), tile, half = meta["shape"], int(meta["tile"]), bool(meta["mirror"])
    dtype = getattr(torch, meta["dtype"].removeprefix("torch."))
    blocks = _blocks(N, M, tile, half)
    missing = [k for k, (i, j) in enumerate(blocks) if not (folder / f"r{i}_c{j}.pt").exists()]
    if not missing:  # write them all, checking each block on the way (damaged: set aside)
        np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np_dtype, shape=(N, M))
        for k, (i, j) in enumerate(blocks):
            t = _load_block(folder / f"r{i}_c{j}.pt", _block_shape(i, j, N, M, tile), dtype)
            if t is None:
                missing.append(k)
                continue
            blk = t.numpy()
            out[i : i + blk.shape[0], j : j + blk.shape[1]] = blk
            if half and i != j:
                out[j : j + blk.shape[1], i : i + blk.shape[0]] = blk.T
        out.flush()
        del out
        if missing:
            tmp.unlink()
        else:
            os.replace(tmp, path)
    if missing:
        names = [f"r{blocks[k][0]}_c{blocks[k][1]}.pt (block {k})" for k in missing[:5]]
        raise FileNotFoundError(
            f"assemble_gram: {len(missing)} of {len(blocks)} blocks missing or damaged in "
            f"{folder}, e.g. {names}; block k is computed by gram_part job k % jobs"
        )
    return np.load(path, mmap_mode="r")
