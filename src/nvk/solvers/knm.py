"""K_nM products for FALKON, split over devices (threads) and processes (torch.distributed).

FALKON touches the n training rows only through two products with K_nM = k(X, C):

    K_nMᵀ K_nM u = Σ_shards Σ_blocks K_bMᵀ (K_bM u),      K_nMᵀ Y = Σ_shards Σ_blocks K_bMᵀ Y_b,

with (block, M) tiles K_bM, so memory is O(block · M) per device whatever n is.

* `devices`: the rows are cut into contiguous shards, one per device (e.g. every visible GPU);
  each device keeps its shard and a copy of C and computes its partial sum in its own thread
  (PyTorch releases the GIL in kernels). Partial sums are added on the home device (X's) in
  device order, so a run is deterministic.
* `distributed=True`: this process's X is one part of the training set (contiguous rows, in
  rank order); the partial sums are all-reduced over the default process group (gloo for CPU
  processes, NCCL for GPUs) so every process ends with the same M-vector. The conjugate
  gradient on M-vectors then runs identically (redundantly) on every process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.distributed as dist

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def resolve_devices(devices: str | Sequence[str] | None, home: torch.device) -> list[torch.device]:
    """None -> [home]; "all" -> every visible CUDA device (else [home]); a list of names as is."""
    if devices is None:
        return [home]
    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(
                f"devices={devices!r}: use 'all' (every visible GPU), a list such as "
                "['cuda:0', 'cuda:1'] (or ['cpu', 'cpu']), or null (the data's device)"
            )
        n = torch.cuda.device_count()
        return [torch.device("cuda", i) for i in range(n)] if n else [home]
    out = []
    for d in devices:
        try:
            out.append(torch.device(str(d)))
        except RuntimeError as e:
            raise ValueError(f"devices: {d!r} is not a device name (cpu, cuda, cuda:1)") from e
    if not out:
        raise ValueError("devices is an empty list; use null for the data's device")
    return out


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def rank_rows(n: int) -> slice:
    """This process's contiguous row range of n rows (all rows when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return slice(0, n)
    r, w = dist.get_rank(), dist.get_world_size()
    return slice(r * n // w, (r + 1) * n // w)


def _require_group() -> None:
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "distributed=True needs torch.distributed initialized (torchrun, or "
            "torch.distributed.init_process_group('gloo'|'nccl', ...)) before the fit"
        )


class KnM:
    """K_nM = kernel(X, C) products. X: (n_local, D) this process's rows; C: (M, D)."""

    def __init__(
        self,
        kernel: Kernel,
        X: torch.Tensor,
        C: torch.Tensor,
        *,
        block: int,
        devices: str | Sequence[str] | None = None,
        distributed: bool = False,
        out_dtype: torch.dtype | None = None,
    ) -> None:
        if distributed:
            _require_group()
        self.kernel, self.block, self.distributed = kernel, int(block), distributed
        self.out_dtype = out_dtype or X.dtype  # of the (M, T) sums; tiles stay in X's dtype
        self.home = X.device
        devs = resolve_devices(devices, X.device)
        n = len(X)
        cuts = [i * n // len(devs) for i in range(len(devs) + 1)]
        self.shards = [
            (d, X[a:b].to(d), C.to(d), a, b) for d, a, b in zip(devs, cuts[:-1], cuts[1:])
        ]
        self.n_local = n
        self.n = count_rows(n, X.device) if distributed else n

    def _run(self, fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        """fn(device, X_shard, C, row_start, row_end) per shard; summed on home; all-reduced."""
        if len(self.shards) == 1:
            parts = [fn(*self.shards[0])]
        else:
            with ThreadPoolExecutor(len(self.shards)) as pool:
                parts = list(pool.map(lambda s: fn(*s), self.shards))
        out = parts[0].to(self.home)
        for p in parts[1:]:
            out = out + p.to(self.home)
        return _all_reduce(out) if self.distributed else out

    def gram_matvec(self, u: torch.Tensor) -> torch.Tensor:
        """K_nMᵀ(K_nM u), u: (M, T) -> (M, T) in `out_dtype`, summed over all rows of all
        processes; each tile's product runs in the tiles' dtype."""

        def part(dev, Xs, C, _a, _b):
            ud = u.to(dev, Xs.dtype)
            out = torch.zeros(u.shape, dtype=self.out_dtype, device=dev)
            for s in range(0, len(Xs), self.block):
                Kr = self.kernel(Xs[s : s + self.block], C)  # (b, M)
                if out.dtype == Kr.dtype:
                    out.addmm_(Kr.T, Kr @ ud)
                else:
                    out += (Kr.T @ (Kr @ ud)).to(out.dtype)
            return out

        return self._run(part)

    def t_matmul(self, Y: torch.Tensor) -> torch.Tensor:
        """K_nMᵀ Y, Y: (n_local, T) this process's targets -> (M, T), summed over processes."""
        if len(Y) != self.n_local:
            raise ValueError(f"Y has {len(Y)} rows but this process holds {self.n_local}")

        def part(dev, Xs, C, a, b):
            Yd = Y[a:b].to(dev, Xs.dtype)
            out = torch.zeros(len(C), Y.shape[1], dtype=self.out_dtype, device=dev)
            for s in range(0, len(Xs), self.block):
                Kr = self.kernel(Xs[s : s + self.block], C)
                out += (Kr.T @ Yd[s : s + self.block]).to(out.dtype)
            return out

        return self._run(part)


def count_rows(n_local: int, device: torch.device) -> int:
    """Σ over processes of n_local."""
    t = torch.tensor([n_local], dtype=torch.int64, device=device)
    return int(_all_reduce(t))


def sample_centers(
    X: torch.Tensor, M: int, *, seed: int, distributed: bool = False
) -> torch.Tensor:
    """M rows drawn uniformly without replacement from all rows (of all processes, taken in
    rank order): the same centres as one process holding every row. X: (n_local, D) -> (M, D).
    """
    n_local = len(X)
    offset, n = 0, n_local
    if distributed:
        _require_group()
        counts = [torch.zeros(1, dtype=torch.int64, device=X.device)
                  for _ in range(dist.get_world_size())]  # fmt: skip
        dist.all_gather(counts, torch.tensor([n_local], dtype=torch.int64, device=X.device))
        sizes = [int(c) for c in counts]
        offset, n = sum(sizes[: dist.get_rank()]), sum(sizes)
    if n < M:
        raise ValueError(f"FALKON centers M={M} exceeds the n={n} training points")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:M]
    if not distributed:
        return X[idx.to(X.device)]
    mine = (idx >= offset) & (idx < offset + n_local)
    C = torch.zeros(M, X.shape[1], dtype=X.dtype, device=X.device)
    C[mine.to(X.device)] = X[(idx[mine] - offset).to(X.device)]
    return _all_reduce(C)  # each row is non-zero on exactly one process: the sum is exact
