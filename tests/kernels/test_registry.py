"""The kernel registry (`nvk.kernels.registry`): one entry per kernel, consistent with the
configs, the KeOps twins, the GPyTorch classes and the zonal profiles; `gram`'s defaults for
callables nvk does not know; the formula a kernel model hands to solvers."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hydra.utils import get_object

import nvk.kernels
from nvk.arch import ConvSpec
from nvk.kernels import (
    KERNELS,
    PROFILES,
    GramHints,
    KernelEntry,
    UnknownKernelError,
    bind_image_shape,
    cntk_from_arch,
    find_entry,
    gram,
    kernel_entry,
    laplace,
    register_kernel,
)
from nvk.kernels.registry import gram_hints, input_kind
from tests.kernels.conftest import randn

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "conf" / "kernel").glob("*.yaml"))

NAMES = [
    "fc_ntk",
    "fc_nngp",
    "laplace",
    "gaussian",
    "gamma_exp",
    "h_laplace",
    "h_gaussian",
    "h_gamma_exp",
    "cntk",
    "cexp",
]
# parameters away from the defaults for each entry (a new entry must add its own here); those
# of fc_ntk, fc_nngp and the exponential family are test_keops.py's, so KeOps reuses its builds
PARAMS: dict[str, dict[str, Any]] = {
    "fc_ntk": {"depth": 2, "bias": 0.5},
    "fc_nngp": {"depth": 3, "bias": 0.5, "bias_init": "gaussian"},
    "laplace": {"c": 0.7},
    "gaussian": {"c": 0.7},
    "gamma_exp": {"c": 0.7, "gamma": 1.3},
    "h_laplace": {"c": 0.7},
    "h_gaussian": {"c": 0.7},
    "h_gamma_exp": {"c": 0.7, "gamma": 1.3},
    "cntk": {"depth": 2, "sigma_w": 1.2},
    "cexp": {"depth": 2, "c": 0.7, "gamma": 1.3},
}
# what `gram` read from function attributes before the registry (`gram_mirror`,
# `gram_single_buffer`, `image_kernel`): the entries must say the same
CHEAP = {"laplace", "gaussian", "gamma_exp", "h_laplace", "h_gaussian", "h_gamma_exp"}
IMAGES = {"cntk", "cexp"}


def entries(which: str = "all") -> list[Any]:
    """pytest params, one per entry (with a twin / class / profile when asked)."""
    out = []
    for name, e in KERNELS.items():
        has = {"all": True, "keops": e.keops is not None, "zonal": e.zonal is not None,
               "gpytorch": e.gpytorch_path is not None}[which]  # fmt: skip
        if has:
            out.append(pytest.param(e, id=name))
    return out


# -- the registry and the configs ----------------------------------------------------------
def test_registry_lists_every_kernel_once() -> None:
    assert list(KERNELS) == NAMES
    assert set(PARAMS) == set(KERNELS)
    fns = [e.fn for e in KERNELS.values()]
    assert len(set(fns)) == len(fns)
    for name, e in KERNELS.items():
        assert e.name == name
        assert getattr(nvk.kernels, e.fn.__name__) is e.fn  # public path `nvk.kernels.<fn>`
        assert e.fn.__name__ in (name, *e.aliases)  # the function's name finds it too


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_target_is_an_entry_function(path: Path) -> None:
    target = yaml.safe_load(path.read_text())["_target_"]
    fn = get_object(target)
    assert kernel_entry(fn).fn is fn
    assert kernel_entry(target.rpartition(".")[2]).fn is fn


def test_every_entry_has_a_config() -> None:
    targets = {yaml.safe_load(p.read_text())["_target_"] for p in CONFIGS}
    assert {kernel_entry(get_object(t)).name for t in targets} == set(KERNELS)


def test_one_name_per_kernel_configs_and_registry_agree() -> None:
    # conf/kernel/<name>.yaml is named by its entry (C-Exp's three presets of `cexp` aside), so
    # configs, records, tables (Table 2's grids) and the registry say the same name
    stems = {p.stem: yaml.safe_load(p.read_text())["_target_"] for p in CONFIGS}
    for name, entry in KERNELS.items():
        if name != "cexp":
            assert kernel_entry(get_object(stems[name])) is entry, name
    for stem, target in stems.items():
        if not stem.startswith("cexp_"):
            assert kernel_entry(get_object(target)).name == stem


def test_lookup_by_name_alias_function_and_partial() -> None:
    ntk = KERNELS["fc_ntk"]
    assert kernel_entry("fc_ntk") is ntk
    assert kernel_entry("ntk") is ntk  # the model= option
    assert kernel_entry(nvk.kernels.fc_ntk) is ntk
    assert kernel_entry(functools.partial(nvk.kernels.fc_ntk, depth=3)) is ntk
    nested = functools.partial(functools.partial(nvk.kernels.fc_ntk, depth=3), bias=0.1)
    assert kernel_entry(nested) is ntk
    assert kernel_entry("gamma_exponential") is kernel_entry("gamma_exp")  # the function's name
    assert kernel_entry("h_gamma_exponential") is kernel_entry("h_gamma_exp")
    assert kernel_entry("nngp") is kernel_entry("fc_nngp")
    assert kernel_entry(cntk_from_arch(ConvSpec(depth=2))) is KERNELS["cntk"]
    for name, e in KERNELS.items():
        assert kernel_entry(name) is e and find_entry(functools.partial(e.fn)) is e
        assert all(kernel_entry(a) is e for a in e.aliases)


def test_unknown_names_and_callables_list_the_registered_kernels() -> None:
    for bad in ("cosine", "NTK", "cexp_laplace", ""):
        with pytest.raises(KeyError) as info:
            kernel_entry(bad)
        assert isinstance(info.value, ValueError)  # catchable either way
        assert all(name in str(info.value) for name in NAMES)
        assert "ntk" in str(info.value)  # aliases too
    with pytest.raises(ValueError, match="not a registered kernel function"):
        kernel_entry(user_kernel)
    with pytest.raises(UnknownKernelError, match="cntk"):
        kernel_entry(functools.partial(user_kernel, c=2.0))
    assert find_entry(user_kernel) is None
    assert find_entry(lambda a, b: a @ b.T) is None


def test_register_kernel_rejects_taken_names_and_functions() -> None:
    with pytest.raises(ValueError, match="taken"):
        register_kernel(KernelEntry("ntk", user_kernel))
    with pytest.raises(ValueError, match="registered as"):
        register_kernel(KernelEntry("my_laplace", laplace))
    with pytest.raises(ValueError, match="inputs"):
        KernelEntry("mine", user_kernel, inputs="graphs")  # type: ignore[arg-type]
    assert "ntk" not in KERNELS and "my_laplace" not in KERNELS


# -- capabilities --------------------------------------------------------------------------
@pytest.mark.parametrize("e", entries())
def test_gram_hints_and_inputs_are_those_gram_used_before(e: KernelEntry) -> None:
    cheap = e.name in CHEAP
    assert e.gram == GramHints(mirror=not cheap, single_buffer=cheap)
    assert gram_hints(functools.partial(e.fn)) == e.gram
    assert e.inputs == ("images" if e.name in IMAGES else "vectors")
    assert input_kind(e.fn) == e.inputs


@pytest.mark.parametrize("e", entries())
def test_inputs_kind_is_what_the_function_takes(e: KernelEntry) -> None:
    params = PARAMS[e.name]
    if e.inputs == "images":
        shape = (2, 5, 5)
        a, b = randn(3, *shape, seed=1), randn(4, *shape, seed=2)
        k = e.fn(a, b, **params)
        assert k.shape == (3, 4)
        rows = e.fn(a.reshape(3, -1), b.reshape(4, -1), image_shape=shape, **params)
        torch.testing.assert_close(rows, k, rtol=1e-12, atol=0)
        bound = bind_image_shape(functools.partial(e.fn, **params), shape)
        assert bound.keywords["image_shape"] == shape
        torch.testing.assert_close(gram(bound, a, b), k, rtol=1e-12, atol=0)
    else:
        a, b = randn(3, 6, seed=1), randn(4, 6, seed=2)
        assert e.fn(a, b, **params).shape == (3, 4)
        assert e.fn(torch.stack([a, a]), torch.stack([b, b]), **params).shape == (2, 3, 4)
        k = functools.partial(e.fn, **params)
        assert bind_image_shape(k, (1, 2, 3)) is k  # nothing to bind


# -- twins, classes, profiles --------------------------------------------------------------
KEOPS_FAST = {"laplace", "fc_ntk"}  # test_keops.py's fast formulas: built once, cached


@pytest.mark.parametrize(
    "e",
    [p if p.id in KEOPS_FAST else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
     for p in entries("keops")],
)  # fmt: skip
def test_keops_twin_matches_the_function(e: KernelEntry) -> None:
    pytest.importorskip("pykeops")
    from tests.kernels.test_keops import TOL, c_tensor, data, kvp_error

    params = {k: c_tensor(v) if k in ("c", "gamma") else v for k, v in PARAMS[e.name].items()}
    x1, x2, v, w, _ = data(zero_rows=True)
    assert kvp_error(e.keops(x1, x2, **params), e.fn(x1, x2, **params), v) < TOL
    assert kvp_error(e.keops(x1, **params), e.fn(x1, **params), w) < TOL


@pytest.mark.parametrize("e", entries("gpytorch"))
def test_gpytorch_class_wraps_the_function_and_its_twin(e: KernelEntry) -> None:
    from nvk.kernels.gpytorch import GPYTORCH_KERNELS, from_pure

    cls = e.gpytorch
    assert cls.pure is e.fn and cls.twin is e.keops
    assert GPYTORCH_KERNELS[e.fn] is cls  # what `from_pure` (solver=gp) looks up
    k = from_pure(functools.partial(e.fn, **PARAMS[e.name]), keops=False).double()
    assert type(k) is cls
    x1, x2 = randn(7, 4, seed=1), randn(5, 4, seed=2)
    learned = {
        n: float(getattr(k, n).detach()) for n in cls.learnable
    }  # c, γ after their transforms
    assert all(abs(v - PARAMS[e.name][n]) < 1e-6 for n, v in learned.items())
    ref = e.fn(x1, x2, **{**PARAMS[e.name], **learned})
    with torch.no_grad():
        torch.testing.assert_close(k.forward(x1, x2), ref, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(k.forward(x1, x1), e.fn(x1, **{**PARAMS[e.name], **learned}),
                                   rtol=1e-12, atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("e", entries("zonal"))
def test_zonal_profile_is_the_function_on_the_sphere(e: KernelEntry) -> None:
    d = 6
    x, z = randn(7, d, seed=1), randn(5, d, seed=2)
    x, z = x / x.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True)
    params = PARAMS[e.name]
    extra = {"d": d} if "d" in inspect.signature(e.zonal).parameters else {}
    torch.testing.assert_close(
        e.zonal(x @ z.T, **extra, **params), e.fn(x, z, **params), rtol=1e-12, atol=1e-12
    )
    assert PROFILES[e.name] is e.zonal  # `zonal_profile(name, ...)` and the studies agree


def test_profiles_are_the_zonal_entries() -> None:
    assert set(PROFILES) == {n for n, e in KERNELS.items() if e.zonal is not None}


# -- callables nvk does not know: gram's defaults, unchanged ---------------------------------
CALLS: list[tuple[int, int]] = []


def user_kernel(x1: torch.Tensor, x2: torch.Tensor | None = None, *, c: float = 1.0):
    """A user's own kernel (module level, so `gram` can name it): Laplace, recording blocks."""
    CALLS.append((len(x1), len(x1 if x2 is None else x2)))
    return laplace(x1, x2, c=c)


def test_gram_of_a_user_callable_keeps_the_defaults(tmp_path: Path) -> None:
    """As before the registry: mirrored upper block triangle (exactly symmetric), tiles of
    `tile` rows (no single-buffer shortcut), vectors (no image_shape bound)."""
    assert gram_hints(user_kernel) == GramHints(mirror=True, single_buffer=False)
    assert input_kind(user_kernel) == "vectors"
    assert bind_image_shape(user_kernel, (1, 3, 3)) is user_kernel
    x = randn(10, 9, seed=3)
    CALLS.clear()
    k = gram(functools.partial(user_kernel, c=0.5), x, tile=4)
    assert len(CALLS) == 6 and all(n <= 4 and m <= 4 for n, m in CALLS)  # 3 × 4 / 2 blocks
    assert torch.equal(k, k.T)
    ref = functools.partial(laplace, c=0.5)  # the same 4-row blocks (a cache keeps the tiles)
    assert torch.equal(k, gram(ref, x, tile=4, mirror=True, cache_dir=tmp_path / "ref"))
    torch.testing.assert_close(k, laplace(x, c=0.5), rtol=1e-14, atol=1e-15)
    CALLS.clear()
    cached = gram(functools.partial(user_kernel, c=0.5), x, tile=4, cache_dir=tmp_path / "user")
    assert torch.equal(cached, k) and len(CALLS) == 6
    # a registered cheap kernel: one block, no mirroring (its entry says so)
    torch.testing.assert_close(gram(laplace, x, tile=4), laplace(x), rtol=1e-14, atol=1e-15)


# -- what solvers receive --------------------------------------------------------------------
def test_kernel_model_hands_solvers_its_formula() -> None:
    from nvk.models.kernel import TiledKernel
    from nvk.solvers.base import HasFormula, KernelValues, kernel_formula

    formula = functools.partial(laplace, c=0.5)
    tiled = TiledKernel(formula, 4, torch.device("cpu"))
    assert isinstance(tiled, HasFormula) and isinstance(tiled, KernelValues)
    assert kernel_formula(tiled) is formula
    assert kernel_formula(formula) is formula  # a plain callable is its own formula
    assert not isinstance(formula, HasFormula)
    assert kernel_entry(kernel_formula(tiled)) is KERNELS["laplace"]
    x = randn(9, 3, seed=4)
    torch.testing.assert_close(tiled(x, x), formula(x), rtol=1e-14, atol=1e-15)
