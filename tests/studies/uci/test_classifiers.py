"""UCI classifiers: grids in loop order, the NTK in Arora et al.'s normalization against a naive
per-pair recursion, SVC on nvk Grams = scikit-learn's own kernel SVC, the MLP estimator."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC

from nvk.data.uci import load_uci
from nvk.kernels import fc_nngp, fc_ntk, laplace
from nvk.kernels.gram import kernel_key
from nvk.studies.uci.classifiers import KernelSVC, MLPEstimator, bound_kernel, expand_grid
from nvk.studies.uci.records import spec_hash
from tests.conftest import CONF, ROOT
from tests.data.uci_fixture import random_uci_dataset

CLASSIFIERS = sorted(p.stem for p in (CONF / "uci_classifier").glob("*.yaml"))
KERNEL_ROWS = [n for n in CLASSIFIERS if n not in ("mlp", "random_forest")]
RECORDS = ROOT / "results" / "uci_table1" / "records"  # the committed full run


def classifier_config(name: str) -> DictConfig:
    """conf/uci_classifier/<name>.yaml as the sweep composes it (experiment=uci_table1: the
    row's defaults list brings the kernel from conf/kernel/ and the shared SVC part)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("train", overrides=["experiment=uci_table1", f"uci_classifier={name}"])
    node = cfg.uci_classifier
    OmegaConf.set_struct(node, False)  # tests set keys the file lacks (device)
    return node


def load_classifier(name: str, **overrides):
    cfg = classifier_config(name)
    for k, v in overrides.items():
        cfg[k] = v
    return instantiate(cfg, _convert_="all")


def test_expand_grid_order_blocks_and_errors():
    g = expand_grid([{"depth": [1], "f": [0]}, {"depth": [2], "f": [0, 1]}])
    assert g == [{"depth": 1, "f": 0}, {"depth": 2, "f": 0}, {"depth": 2, "f": 1}]
    assert expand_grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]  # fmt: skip
    assert expand_grid(None) == [{}] and expand_grid({}) == [{}]
    with pytest.raises(ValueError, match="c must be a non-empty list"):
        expand_grid({"c": []})
    with pytest.raises(ValueError, match="c must be a non-empty list"):
        expand_grid({"c": 0.5})


# settings per classifier: the issue's grid sizes (NTK 15, γ-exp 15, Laplace-type 10) × 7 C
SIZES = {"ntk": 15 * 7, "nngp": 5 * 7, "laplace": 70, "h_laplace": 70, "gaussian": 70,
         "h_gaussian": 70, "gamma_exp": 105, "h_gamma_exp": 105, "mlp": 4,
         "random_forest": 3}  # fmt: skip


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_config_builds(name):
    clf = load_classifier(name)
    assert clf.name == name
    assert len(clf.settings()) == SIZES[name]
    OmegaConf.create(clf.spec())  # plain, serializable
    if isinstance(clf, KernelSVC):
        assert [10.0**e for e in range(-2, 5)] == clf.C
        assert [s["C"] for s in clf.settings()[:7]] == clf.C  # C innermost


@pytest.mark.parametrize("name", KERNEL_ROWS)
def test_kernel_rows_take_conf_kernel_and_the_shared_svc_part(name):
    """Each kernel row names its kernel in conf/kernel/ and takes C and max_iter from
    conf/uci_classifier/base/kernel_svc.yaml, the one place the C grid is written."""
    raw = OmegaConf.load(CONF / "uci_classifier" / f"{name}.yaml")
    assert "base/kernel_svc@_here_" in raw.defaults
    kernels = [next(iter(d.values())) for d in raw.defaults
               if isinstance(d, DictConfig) and "/kernel@kernel" in d]  # fmt: skip
    assert len(kernels) == 1 and (CONF / "kernel" / f"{kernels[0]}.yaml").is_file()
    assert not {"_target_", "C", "max_iter"} & set(raw)  # nothing the shared part says
    assert "_target_" not in raw.get("kernel", {})  # only what differs from conf/kernel
    shared = OmegaConf.load(CONF / "uci_classifier" / "base" / "kernel_svc.yaml")
    cfg = classifier_config(name)
    assert cfg.C == shared.C and cfg.max_iter == shared.max_iter
    assert cfg.kernel._target_ == OmegaConf.load(CONF / "kernel" / f"{kernels[0]}.yaml")._target_


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_specs_match_the_committed_records(name):
    """The composed rows have the specs of results/uci_table1/records (and the iteration cap of
    those with capped fits), so a rerun of the sweep finds every committed cell done."""
    if not (RECORDS / name).is_dir():
        pytest.skip(f"no committed records for {name} in {RECORDS}")
    clf = load_classifier(name)
    want = spec_hash(clf.spec())
    records = [json.loads(p.read_text()) for p in sorted((RECORDS / name).glob("*.json"))]
    assert records
    assert {r["spec_hash"] for r in records} == {want}, "a rerun would refuse these records"
    assert all(r["spec"] == clf.spec() for r in records)
    for r in records:
        if r.get("capped_fits"):
            assert r["max_iter"] == clf.max_iter, r["dataset"]


def test_bound_kernel_drops_only_keywords_no_call_uses():
    grid = expand_grid([{"depth": [1], "frozen_layers": [0]}, {"depth": [2], "frozen_layers": [1]}])
    k = functools.partial(fc_ntk, depth=3, bias=0.0, bias_init=None, sigma_w=1.0, frozen_layers=0)
    assert bound_kernel(k, grid).keywords == {"bias": 0.0, "sigma_w": 1.0}
    partly = expand_grid([{"depth": [1], "frozen_layers": [0]}, {"depth": [2]}])
    kept = bound_kernel(k, partly).keywords  # frozen_layers is used by the second block
    assert kept == {"bias": 0.0, "sigma_w": 1.0, "frozen_layers": 0}
    assert bound_kernel(functools.partial(laplace, c=1.0), [{"c": 0.3}]).keywords == {}
    assert bound_kernel(laplace, [{"c": 0.3}]) is laplace
    no_grid = {kw: v for kw, v in k.keywords.items() if kw != "bias_init"}  # only None goes
    assert bound_kernel(k, [{}]).keywords == no_grid
    x = torch.randn(6, 3, dtype=torch.float64)
    for s in grid:  # the same kernel for every setting
        torch.testing.assert_close(functools.partial(bound_kernel(k, grid), **s)(x), fc_ntk(
            x, bias=0.0, sigma_w=1.0, **s), rtol=0, atol=0)  # fmt: skip
    key = kernel_key(
        bound_kernel(functools.partial(fc_nngp, sigma_w=1.0, frozen_layers=None), [{}])
    )
    assert key == kernel_key(functools.partial(fc_nngp, sigma_w=1.0))


def test_ntk_loop_order_is_arora_depth_then_frozen_then_c():
    s = load_classifier("ntk").settings()
    keys = [(x["depth"], x["frozen_layers"], x["C"]) for x in s]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(0 <= f < d <= 5 for d, f, _ in keys)


def arora_ntk_pair(x: np.ndarray, z: np.ndarray, hidden: int, fix: int, nngp: bool = False):
    """Arora et al. 2020 (UCI), one pair: input covariance x·z, ReLU layers with c_σ = 1
    (E[relu(u) relu(v)] and E[relu'(u) relu'(v)] as arc-cosine formulas), first `fix` layers
    frozen; `hidden` ReLU layers. Written per pair in plain math, independent of nvk.kernels."""
    sxz, sxx, szz = float(x @ z), float(x @ x), float(z @ z)
    theta = sxz if fix == 0 else 0.0
    for h in range(1, hidden + 1):
        norm = math.sqrt(sxx * szz)
        rho = sxz / norm
        t = 0.0 if abs(rho - 1) < 1e-12 else math.acos(max(-1.0, rho))  # x = z: exactly 0
        dot = (math.pi - t) / (2 * math.pi)
        sxz = norm * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)
        sxx, szz = sxx / 2, szz / 2
        theta = theta * dot + (sxz if h >= fix else 0.0)
    return sxz if nngp else theta


@pytest.fixture(scope="module")
def small_uci(tmp_path_factory):
    root = tmp_path_factory.mktemp("uci")
    random_uci_dataset(root, "small", n=40, d=4, k=3, seed=3)
    return load_uci(root, "small")


def test_ntk_and_nngp_grams_are_aroras_kernels(small_uci):
    x = small_uci.x.numpy()[:7]
    data = small_uci.__class__(small_uci.meta, small_uci.x[:7], small_uci.y[:7],
                               small_uci.index_sets)  # fmt: skip
    ntk, nngp = load_classifier("ntk"), load_classifier("nngp")
    for s in ntk.kernel_settings:
        L, f = s["depth"], s["frozen_layers"]
        G = ntk.gram_matrix(data, s).numpy()
        ref = np.array([[arora_ntk_pair(a, b, L - 1, f) for b in x] for a in x])
        np.testing.assert_allclose(G, ref, rtol=1e-10, atol=1e-12)
        # the documented factor relative to nvk's default (σ_w = √2, input covariance x·z / D)
        default = fc_ntk(data.x.double(), depth=L, frozen_layers=f).numpy()
        np.testing.assert_allclose(G, x.shape[1] * 2.0 ** -(L - 1) * default, rtol=1e-10)
    for s in nngp.kernel_settings:
        G = nngp.gram_matrix(data, s).numpy()
        ref = np.array([[arora_ntk_pair(a, b, s["depth"] - 1, 0, True) for b in x] for a in x])
        np.testing.assert_allclose(G, ref, rtol=1e-10, atol=1e-12)


def test_kernel_svc_equals_sklearn_rbf_svc(small_uci):
    """Gaussian exp(−c‖x − z‖²) + precomputed SVC = scikit-learn's SVC(kernel="rbf", gamma=c)."""
    clf = load_classifier("gaussian", grid={"c": [0.3]}, C=[0.5, 10.0])
    sets = small_uci.index_sets
    x, y = small_uci.x.numpy(), small_uci.y.numpy()
    for s in clf.settings():
        for tr, te in [(sets.tune_train, sets.tune_val), *sets.folds]:
            ref = SVC(kernel="rbf", gamma=s["c"], C=s["C"]).fit(x[tr], y[tr])
            want = np.mean(ref.predict(x[te]) == y[te])
            assert clf.accuracy(small_uci, s, tr, te) == pytest.approx(want, abs=0)


def test_gram_device_option_gives_the_same_matrix(small_uci):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ref = load_classifier("ntk").gram_matrix(small_uci, {"depth": 3, "frozen_layers": 1})
    for dev in devices:
        clf = load_classifier("ntk", device=dev)
        G = clf.gram_matrix(small_uci, {"depth": 3, "frozen_layers": 1})
        assert G.device.type == "cpu"
        torch.testing.assert_close(G, ref, rtol=1e-12, atol=1e-12)
        assert "device" not in clf.spec()


def test_kernel_svc_rejects_bad_options():
    k = functools.partial(fc_ntk)
    with pytest.raises(ValueError, match="C must be a non-empty list of numbers > 0"):
        KernelSVC(name="x", kernel=k, grid=None, C=[0.0])
    with pytest.raises(ValueError, match="scale must be a number, 'dim' or null"):
        KernelSVC(name="x", kernel=k, grid=None, C=[1.0], scale="dims")


def test_mlp_estimator_fits_separable_data_deterministically():
    threads = torch.get_num_threads()  # tiny nets: one thread (2 contend on a busy machine)
    torch.set_num_threads(1)
    try:
        _check_mlp_estimator()
    finally:
        torch.set_num_threads(threads)


def _check_mlp_estimator():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    state = torch.random.get_rng_state()
    p1 = MLPEstimator(depth=2, width=64, lr=0.5, epochs=150).fit(x, y).predict(x)
    p2 = MLPEstimator(depth=2, width=64, lr=0.5, epochs=150).fit(x, y).predict(x)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    assert np.array_equal(p1, p2)
    assert np.mean(p1 == y) >= 0.95
    with pytest.raises(RuntimeError, match="before fit"):
        MLPEstimator().predict(x)


def test_iteration_cap_is_reported_and_is_sklearns_cap(small_uci):
    """`max_iter` is libsvm's cap per binary subproblem: a fit that reaches it says so in
    `fit_info` and equals scikit-learn's SVC with the same cap; uncapped, the fit runs past it."""
    sets = small_uci.index_sets
    x, y = small_uci.x.numpy(), small_uci.y.numpy()
    tr, te = sets.tune_train, sets.tune_val
    s = {"c": 0.3, "C": 1e4}
    free = load_classifier("gaussian", grid={"c": [0.3]}, C=[1e4], max_iter=-1)
    free.accuracy(small_uci, s, tr, te)
    n = free.fit_info["n_iter"]
    assert n > 3 and not free.fit_info["capped"] and free.fit_info["gram_s"] > 0
    assert free.fit_info["n_train"] == len(tr) and free.fit_info["svc_s"] > 0

    capped = load_classifier("gaussian", grid={"c": [0.3]}, C=[1e4], max_iter=3)
    got = capped.accuracy(small_uci, s, tr, te)
    assert capped.fit_info["capped"] and capped.fit_info["n_iter"] == 3
    with pytest.warns(ConvergenceWarning, match="terminated early"):
        ref = SVC(kernel="rbf", gamma=0.3, C=1e4, max_iter=3).fit(x[tr], y[tr])
    assert got == pytest.approx(np.mean(ref.predict(x[te]) == y[te]), abs=0)
    capped.accuracy(small_uci, s, *sets.folds[0])  # same kernel setting: the Gram is reused
    assert capped.fit_info["gram_s"] == 0
    assert "max_iter" not in capped.spec() and capped.spec() == free.spec()
    for bad in (0, -2, 2.5):
        with pytest.raises(ValueError, match="max_iter must be -1"):
            KernelSVC(name="x", kernel=fc_ntk, grid=None, C=[1.0], max_iter=bad)
