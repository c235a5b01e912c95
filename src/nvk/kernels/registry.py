"""One entry per nvk kernel: its pure function and everything that goes with it.

A `KernelEntry` carries the pure function (what `conf/kernel/*.yaml` names as `_target_`), its
input kind (vectors or images), its KeOps twin, its GPyTorch class, its zonal profile and how
`gram` may evaluate it (`GramHints`). Code that needs one of these asks the entry instead of
probing attributes of the function:

    >>> from functools import partial
    >>> from nvk.kernels import kernel_entry, laplace
    >>> e = kernel_entry(partial(laplace, c=0.5))  # or "laplace", an alias, laplace itself
    >>> e.name, e.inputs, e.keops.__name__, e.gpytorch.__name__, e.gram.mirror
    ('laplace', 'vectors', 'keops_laplace', 'LaplaceKernel', False)

A callable nvk does not know (a user's own kernel) has no entry: `find_entry` gives None and
`gram_hints`/`input_kind` give the defaults (`GramHints()`, "vectors"). `register_kernel` adds
an entry for one.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from torch import Tensor

from nvk.kernels import conv as _conv
from nvk.kernels import exponential as _exp
from nvk.kernels import fc as _fc
from nvk.kernels import keops as _keops
from nvk.kernels import zonal as _zonal

InputKind = Literal["vectors", "images"]
INPUT_KINDS: tuple[InputKind, ...] = ("vectors", "images")


@dataclass(frozen=True)
class GramHints:
    """How `nvk.kernels.gram` may evaluate a kernel. The defaults are what `gram` does with any
    callable nvk does not know (a user's own kernel), so they are the safe choices."""

    mirror: bool = True
    """For a symmetric K(X, X): compute the upper block triangle only, symmetrize the diagonal
    blocks and mirror (an exactly symmetric result). False for kernels so cheap that the
    transposed copy costs about as much as computing them (the exponential family): all blocks
    are computed then. `gram(mirror=...)` overrides it."""

    single_buffer: bool = False
    """The kernel needs no memory beyond its (N, M) output (it works in place in it): without a
    cache, on the CPU, `gram` computes the whole matrix as one block (fastest, no extra memory)."""


@dataclass(frozen=True)
class KernelEntry:
    """Everything nvk knows about one kernel. Frozen: build a new entry to change one."""

    name: str
    """The canonical name: the function's name in `nvk.kernels` and the key of `KERNELS`."""

    fn: Callable[..., Tensor]
    """The pure function k(x1 (…, N, …), x2 (…, M, …) = None, *, params) → (…, N, M), the
    `_target_` of its `conf/kernel/*.yaml` (Hydra binds the parameters with `_partial_: true`)."""

    inputs: InputKind = "vectors"
    """What x1, x2 are. "vectors": rows (…, N, D). "images": (…, N, C, H, W), or flattened rows
    (…, N, C·H·W) with the keyword `image_shape=(C, H, W)`, which `gram`, `gram_part` and kernel
    models bind from the data (`nvk.kernels.gram.bind_image_shape`)."""

    keops: Callable[..., Any] | None = None
    """The KeOps twin: the same formula on pykeops LazyTensors (`nvk.kernels.keops`), same
    signature, a symbolic (…, N, M) result; None when there is none."""

    gpytorch_path: str | None = None
    """Import path "module.Class" of the GPyTorch wrapper (an `NVKKernel` subclass), or None. A
    path rather than the class so that `import nvk.kernels` does not import GPyTorch; the
    property `gpytorch` imports it."""

    zonal: Callable[..., Tensor] | None = None
    """κ(u, **params) with k(x, z) = κ(x·z) for unit vectors x, z (`nvk.kernels.zonal`; the FC
    profiles also take the dimension `d`), or None for kernels that are not zonal."""

    aliases: tuple[str, ...] = ()
    """Other names users type for it (e.g. the `model=` option "ntk" for "fc_ntk")."""

    gram: GramHints = field(default_factory=GramHints)
    """How `gram` may evaluate it (`GramHints`)."""

    def __post_init__(self) -> None:
        if not self.name or not callable(self.fn):
            raise ValueError(f"KernelEntry needs a name and a callable fn, got {self!r}")
        if self.inputs not in INPUT_KINDS:
            raise ValueError(f"KernelEntry {self.name!r}: inputs must be one of {INPUT_KINDS}")
        if not isinstance(self.aliases, tuple):
            raise TypeError(f"KernelEntry {self.name!r}: aliases must be a tuple of str")

    @property
    def gpytorch(self) -> type | None:
        """The GPyTorch class (imported on first use), or None."""
        if self.gpytorch_path is None:
            return None
        module, _, attr = self.gpytorch_path.rpartition(".")
        return getattr(importlib.import_module(module), attr)


class UnknownKernelError(KeyError, ValueError):
    """A name or callable that is not a registered kernel (catch it as KeyError or ValueError)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


_KERNELS: dict[str, KernelEntry] = {}
_BY_NAME: dict[str, KernelEntry] = {}  # canonical names and aliases
_BY_FN: dict[Callable[..., Any], KernelEntry] = {}

KERNELS: Mapping[str, KernelEntry] = MappingProxyType(_KERNELS)
"""The registry, read-only: canonical name → entry (`register_kernel` adds to it)."""


def register_kernel(entry: KernelEntry) -> KernelEntry:
    """Add `entry` to the registry; its name, aliases and function must be new."""
    taken = [n for n in (entry.name, *entry.aliases) if n in _BY_NAME]
    if taken:
        raise ValueError(f"register_kernel: names {taken} are taken by {_BY_NAME[taken[0]].name!r}")
    if entry.fn in _BY_FN:
        raise ValueError(
            f"register_kernel: {entry.fn!r} is registered as {_BY_FN[entry.fn].name!r}"
        )
    _KERNELS[entry.name] = entry
    for n in (entry.name, *entry.aliases):
        _BY_NAME[n] = entry
    _BY_FN[entry.fn] = entry
    return entry


def _base(kernel: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(kernel, functools.partial):
        kernel = kernel.func
    return kernel


def _known() -> str:
    names = (
        f"{e.name} ({', '.join(e.aliases)})" if e.aliases else e.name for e in _KERNELS.values()
    )
    return f"registered kernels (aliases in parentheses): {', '.join(names)}"


def find_entry(kernel: Callable[..., Any]) -> KernelEntry | None:
    """The entry of a registered pure function or a `functools.partial` of it (what Hydra's
    `_partial_: true` builds), else None (a callable nvk does not know)."""
    try:
        return _BY_FN.get(_base(kernel))
    except TypeError:  # an unhashable callable is not registered
        return None


def kernel_entry(kernel: str | Callable[..., Any]) -> KernelEntry:
    """The entry of `kernel`: a registered name, an alias, the pure function, or a
    `functools.partial` of it. Anything else raises `UnknownKernelError` (a KeyError and a
    ValueError) listing the registered names."""
    if isinstance(kernel, str):
        entry = _BY_NAME.get(kernel)
        if entry is None:
            raise UnknownKernelError(f"unknown kernel {kernel!r}; {_known()}")
        return entry
    entry = find_entry(kernel)
    if entry is None:
        raise UnknownKernelError(f"{kernel!r} is not a registered kernel function; {_known()}")
    return entry


def gram_hints(kernel: Callable[..., Any]) -> GramHints:
    """`kernel`'s `GramHints`; the defaults `GramHints()` for a callable nvk does not know."""
    entry = find_entry(kernel)
    return GramHints() if entry is None else entry.gram


def input_kind(kernel: Callable[..., Any]) -> InputKind:
    """`KernelEntry.inputs` of `kernel`; "vectors" for a callable nvk does not know."""
    entry = find_entry(kernel)
    return "vectors" if entry is None else entry.inputs


# keyword arguments that say how a call runs, not which kernel it computes: `kernel_config`
# records them as the conf/kernel files do (image_shape: null, bound from the data at run time;
# chunk_bytes, a memory bound, not listed)
_RUNTIME = {"image_shape": None}
_MEMORY = ("chunk_bytes",)


def _config_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword-only parameters a conf/kernel file lists, with their defaults (run-time
    bindings as the files record them, memory knobs left out)."""
    params = inspect.signature(fn).parameters.values()
    out = {p.name: _RUNTIME.get(p.name, p.default) for p in params
           if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}  # fmt: skip
    return {k: v for k, v in out.items() if k not in _MEMORY}


def config_partial(kernel: str | Callable[..., Any], **params: Any) -> functools.partial:
    """`functools.partial(fn, ...)` with every parameter a conf/kernel file lists (defaults, then
    `params`): the same partial, hence the same `gram` cache key, as Hydra builds from the
    kernel's config. How code that reaches a kernel another way (a layer list's fused path)
    builds it."""
    fn = kernel_entry(kernel).fn
    return functools.partial(fn, **{**_config_defaults(fn), **params})


def kernel_config(kernel: functools.partial) -> dict[str, Any]:
    """The Hydra config of `conf/kernel/<name>.yaml` form that builds this partial of a
    registered kernel: `_target_` (the public `nvk.kernels.<function>`), `_partial_`, and every
    parameter the file lists (its default where the partial does not bind it; run-time
    bindings as the files record them: image_shape null). What a record's spec holds, so a
    kernel reached another way (a layer list's fused path: model=ntk) keeps the spec of the
    config that named it."""
    entry = find_entry(kernel) if isinstance(kernel, functools.partial) else None
    if entry is None or entry.fn is not kernel.func:
        raise ValueError(f"kernel_config: not a functools.partial of an nvk kernel: {kernel!r}")
    defaults = _config_defaults(entry.fn)
    bound = {k: v for k, v in kernel.keywords.items() if k not in _MEMORY and k not in _RUNTIME}
    return {"_target_": f"nvk.kernels.{entry.fn.__name__}", "_partial_": True,
            **defaults, **bound}  # fmt: skip


# -- the nvk kernels ---------------------------------------------------------------------------
_GP = "nvk.kernels.gpytorch."
# Mirroring a symmetric Gram matrix's upper triangle costs about as much as computing the
# exponential kernels, and they work in place in their output.
_CHEAP = GramHints(mirror=False, single_buffer=True)

for _entry in (
    KernelEntry("fc_ntk", _fc.fc_ntk, keops=_keops.keops_fc_ntk, gpytorch_path=_GP + "NTKKernel",
                zonal=_zonal.fc_ntk_profile, aliases=("ntk",)),
    KernelEntry("fc_nngp", _fc.fc_nngp, keops=_keops.keops_fc_nngp,
                gpytorch_path=_GP + "NNGPKernel", zonal=_zonal.fc_nngp_profile, aliases=("nngp",)),
    KernelEntry("laplace", _exp.laplace, keops=_keops.keops_laplace,
                gpytorch_path=_GP + "LaplaceKernel", zonal=_zonal.laplace_profile, gram=_CHEAP),
    KernelEntry("gaussian", _exp.gaussian, keops=_keops.keops_gaussian,
                gpytorch_path=_GP + "GaussianKernel", zonal=_zonal.gaussian_profile, gram=_CHEAP),
    KernelEntry("gamma_exp", _exp.gamma_exponential,
                keops=_keops.keops_gamma_exponential, gpytorch_path=_GP + "GammaExponentialKernel",
                zonal=_zonal.gamma_exponential_profile, aliases=("gamma_exponential",),
                gram=_CHEAP),
    KernelEntry("h_laplace", _exp.h_laplace, keops=_keops.keops_h_laplace,
                gpytorch_path=_GP + "HLaplaceKernel", zonal=_zonal.laplace_profile, gram=_CHEAP),
    KernelEntry("h_gaussian", _exp.h_gaussian, keops=_keops.keops_h_gaussian,
                gpytorch_path=_GP + "HGaussianKernel", zonal=_zonal.gaussian_profile, gram=_CHEAP),
    KernelEntry("h_gamma_exp", _exp.h_gamma_exponential,
                keops=_keops.keops_h_gamma_exponential,
                gpytorch_path=_GP + "HGammaExponentialKernel",
                zonal=_zonal.gamma_exponential_profile, aliases=("h_gamma_exponential",),
                gram=_CHEAP),
    KernelEntry("cntk", _conv.cntk, inputs="images"),
    KernelEntry("cexp", _conv.cexp, inputs="images"),
):  # fmt: skip
    register_kernel(_entry)
