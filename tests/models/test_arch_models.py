"""model=mlp|net|ntk|nngp read one `arch` (conf/arch/): the network and its kernel models.

In-process: every arch composes and builds with every generic model; the kernel dispatch
(`nvk.layers.analytic_kernel`) gives the fused `nvk.kernels` function exactly where the list is
one it computes, equal to the composed kernel to 1e-12 (float64); model=ntk|nngp equal
model=kernel kernel=fc_ntk|fc_nngp; model=net arch=mlp|cnn builds model=mlp|cnn's parameters;
a residual CNN trains and its NTK fits. Subprocesses (train.py as typed):
`-m model=mlp,ntk arch.depth=5`, and arch.activation=erf for the network, its NTK and NNGP.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import load_digits

from nvk.data.base import DataInfo
from nvk.kernels import cntk, fc_nngp, fc_ntk
from nvk.layers import (
    ACTIVATIONS,
    Conv,
    Dense,
    Flatten,
    LayerKernel,
    ReLU,
    analytic_kernel,
    as_activation,
    cnn,
    fused_kernel,
    mlp,
    myrtle5,
    resnet_small,
    serial,
)
from nvk.models import ArchKernelModule, ArchNetModule
from nvk.run import build, evaluate_checkpoint, train
from tests.conftest import CONF, ROOT, compose_cfg

ARCHS = sorted(p.stem for p in (CONF / "arch").glob("*.yaml"))
ATOL = 1e-12
DIGITS = DataInfo("digits", (64,), 10, "classification")
DIGIT_IMAGES = DataInfo("digits", (1, 8, 8), 10, "classification")


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _model(tmp_path: Path, *overrides: str, info: DataInfo | None = None):
    """(composed config, model built on digits or on `info`)."""
    cfg = compose_cfg("train", list(overrides), tmp_path, hydra_cfg=False)
    if info is None:
        info = instantiate(cfg.data).info
    return cfg, build(cfg.model, info=info)


def test_ships_the_four_archs():
    assert {"mlp", "cnn", "resnet", "myrtle5"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("model", ["net", "ntk", "nngp"])
def test_every_arch_composes_and_builds_with_every_generic_model(arch, model, tmp_path):
    cfg, m = _model(tmp_path, f"model={model}", f"arch={arch}")
    assert "out" not in cfg.arch  # the data give the number of outputs
    images = arch != "mlp"
    assert cfg.data.flatten is (not images)  # image archs read (C, H, W) images
    x = torch.rand(3, *((1, 8, 8) if images else (64,)))
    if model == "net":
        assert isinstance(m, ArchNetModule) and cfg.get("solver") is None
        assert m(x).shape == (3, 10) and m.in_shape == tuple(x.shape[1:])
    else:
        assert isinstance(m, ArchKernelModule) and m.get == model.removeprefix("net_")
        assert cfg.solver.targets == ("centered" if images else "onehot")  # as model=cntk|ntk
        K = m.kernel_fn(x, x)
        assert K.shape == (3, 3) and K.dtype == torch.float64 and torch.isfinite(K).all()


def test_default_arch_is_mlp_and_other_models_have_none(tmp_path):
    for model in ("mlp", "mlp_wide", "net", "ntk", "nngp"):
        cfg = compose_cfg("train", [f"model={model}"], tmp_path, hydra_cfg=False)
        assert cfg.arch._target_ == "nvk.layers.mlp"
    cfg = compose_cfg("train", ["model=cnn"], tmp_path, hydra_cfg=False)
    assert cfg.arch._target_ == "nvk.layers.cnn" and cfg.data.flatten is False
    for model in ("cntk", "laplace", "kernel"):
        cfg = compose_cfg("train", [f"model={model}"], tmp_path, hydra_cfg=False)
        assert cfg.get("arch") is None


# -- the fast-path dispatch -----------------------------------------------------------------------
MLP_CASES = [
    dict(depth=1),
    dict(depth=2, W_std=1.3),
    dict(depth=4),
    dict(depth=3, b_std=0.2, bias_init="gaussian"),
    dict(depth=5, W_std=1.1, b_std=0.3),
]


@pytest.mark.parametrize("get", ["ntk", "nngp"])
@pytest.mark.parametrize(
    "kw", MLP_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items())
)
def test_relu_mlp_dispatches_to_the_fused_fc_kernel_and_agrees(kw, get):
    layer = mlp(width=64, out=3, **kw)
    k = analytic_kernel(layer, (7,), get)
    assert isinstance(k, functools.partial) and k.func is (fc_ntk if get == "ntk" else fc_nngp)
    x, z = _randn(9, 7, seed=1), _randn(5, 7, seed=2)
    x[3] = 0.0  # a zero row (the degenerate-variance convention)
    composed = LayerKernel(layer, (7,), get)
    assert (k(x, z) - composed(x, z)).abs().max() <= ATOL
    assert (k(x) - composed(x)).abs().max() <= ATOL


@pytest.mark.parametrize("depth", [1, 3])
def test_trace_cnn_dispatches_to_the_fused_cntk_and_agrees(depth):
    layer = cnn(depth, channels=16, readout="flatten", out=4, W_std=1.2)
    k = analytic_kernel(layer, (2, 6, 5), "ntk")
    assert isinstance(k, functools.partial) and k.func is cntk
    x, z = _randn(4, 2 * 6 * 5, seed=3), _randn(3, 2 * 6 * 5, seed=4)  # flattened rows, as gram
    composed = LayerKernel(layer, (2, 6, 5), "ntk")
    assert (k(x, z) - composed(x, z)).abs().max() <= ATOL
    assert (k(x) - composed(x)).abs().max() <= ATOL


@pytest.mark.parametrize(
    ("layer", "in_shape", "get"),
    [
        (mlp(3, 8, activation="erf"), (5,), "ntk"),
        (mlp(3, 8, activation="leaky_relu"), (5,), "ntk"),  # a ReLU subclass is not ReLU
        (mlp(3, 8, parameterization="standard"), (5,), "ntk"),
        (serial(Dense(8, 1.3), ReLU(), Dense(8, 1.5), ReLU(), Dense(1, 1.0)), (5,), "ntk"),
        (serial(Dense(8), ReLU(), Dense(1, 2.0)), (5,), "ntk"),  # readout scale 2
        (cnn(2, 8, readout="gap", activation="abs"), (1, 6, 6), "ntk"),
        (cnn(2, 8), (1, 6, 6), "nngp"),  # no fused CNN NNGP
        (serial(Conv(8, 3, stride=2), ReLU(), Flatten(), Dense(1, 1.0)), (1, 6, 6), "ntk"),
        (serial(Conv(8, 3, b_std=0.1), ReLU(), Flatten(), Dense(1, 1.0)), (1, 6, 6), "ntk"),
        (resnet_small(1, 8), (1, 6, 6), "ntk"),
        (myrtle5(8), (1, 6, 6), "ntk"),
    ],
    ids=lambda v: repr(v)[:40] if not isinstance(v, (tuple, str)) else str(v),
)
def test_other_lists_use_the_composed_kernel(layer, in_shape, get):
    assert fused_kernel(layer, in_shape, get) is None
    assert isinstance(analytic_kernel(layer, in_shape, get), LayerKernel)


def test_kernel_models_pick_the_fused_kernel_for_the_relu_archs(tmp_path):
    assert _model(tmp_path, "model=ntk")[1].kernel.func is fc_ntk
    assert _model(tmp_path, "model=nngp")[1].kernel.func is fc_nngp
    m = _model(tmp_path, "model=ntk", "arch=cnn")[1]
    assert m.kernel.func is cntk and m.kernel.keywords["image_shape"] == (1, 8, 8)
    m = _model(tmp_path, "model=ntk", "arch=cnn", "arch.readout=gap")[1]
    assert m.kernel.func is cntk and m.kernel.keywords["readout"] == "gap"
    for extra in (["arch.activation=erf"], ["arch=cnn", "arch.activation=abs"], ["arch=resnet"]):
        assert isinstance(_model(tmp_path, "model=ntk", *extra)[1].kernel, LayerKernel)


def test_composed_image_kernel_in_blocks_equals_one_block():
    layer, shape = cnn(2, 4, readout="gap", out=2), (1, 5, 5)  # pooling: P² = 625 per pair
    x, z = _randn(5, 25, seed=5), _randn(3, 25, seed=6)
    whole = LayerKernel(layer, shape)
    blocked = LayerKernel(layer, shape, chunk_bytes=4 * 625 * 8)  # 2 × 2 pairs per block
    assert whole.block(x.device) > 5 and blocked.block(x.device) == 2
    assert (whole(x) - blocked(x)).abs().max() <= ATOL
    assert (whole(x, z) - blocked(x, z)).abs().max() <= ATOL
    assert LayerKernel(mlp(2), (4,)).block(x.device) is None  # vectors: the caller tiles


# -- one arch, the same network and kernel as the dedicated models --------------------------------
@pytest.mark.parametrize("get", ["ntk", "nngp"])
@pytest.mark.parametrize(
    "values", [dict(), dict(depth=4, sigma_w=1.3, bias=0.2, bias_init="gaussian")], ids=str
)
def test_arch_kernel_model_equals_the_fc_kernel_model(get, values, tmp_path):
    # model=ntk|nngp (the arch's kernel) = model=kernel kernel=fc_ntk|fc_nngp (the kernel's config)
    arch_keys = {"depth": "depth", "sigma_w": "W_std", "bias": "b_std", "bias_init": "bias_init"}
    ours = [f"arch.{arch_keys[k]}={v}" for k, v in values.items()]
    theirs = [f"kernel.{k}={v}" for k, v in values.items()]
    _, a = _model(tmp_path, f"model={get}", *ours, info=DIGITS)
    _, b = _model(tmp_path, "model=kernel", f"kernel=fc_{get}", *theirs, info=DIGITS)
    x = torch.from_numpy(load_digits().data[:60] / 16)
    for x1, x2 in ((x[:40], x[40:]), (x, x)):
        assert (a.kernel_fn(x1, x2) - b.kernel_fn(x1, x2)).abs().max() <= ATOL
    assert type(a.solver) is type(b.solver) and a.solver.options == b.solver.options


def test_ntk_with_arch_cnn_equals_model_cntk(tmp_path):
    _, a = _model(tmp_path, "model=ntk", "arch=cnn", "arch.depth=2", info=DIGIT_IMAGES)
    _, b = _model(tmp_path, "model=cntk", "kernel.depth=2", info=DIGIT_IMAGES)
    x = torch.from_numpy(load_digits().data[:12] / 16).reshape(12, 1, 8, 8)
    assert (a.kernel_fn(x, x) - b.kernel_fn(x, x)).abs().max() <= ATOL
    assert a.solver.options == b.solver.options  # centered KRR


@pytest.mark.parametrize(
    ("ours", "theirs", "info"),
    [
        (["model=net", "arch.width=64", "arch.depth=4"], ["model=mlp", "model.width=64",
         "model.depth=4"], DIGITS),
        (["model=net", "arch.b_std=0.1", "arch.bias_init=gaussian"], ["model=mlp",
         "model.bias=0.1", "model.bias_init=gaussian"], DIGITS),
        (["model=net", "arch=cnn", "arch.channels=16"], ["model=cnn", "model.channels=16"],
         DIGIT_IMAGES),
    ],
)  # fmt: skip
def test_net_builds_the_parameters_of_the_dedicated_network(ours, theirs, info, tmp_path):
    torch.manual_seed(0)
    a = _model(tmp_path, *ours, info=info)[1]
    torch.manual_seed(0)
    b = _model(tmp_path, *theirs, info=info)[1]
    pa, pb = list(a.net.parameters()), list(b.net.parameters())
    assert [p.shape for p in pa] == [p.shape for p in pb]
    assert all(torch.equal(p, q) for p, q in zip(pa, pb))  # and the same draw
    x = torch.rand(5, *info.in_shape)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


# -- activations by name, errors ----------------------------------------------------------------
def test_activations_by_name():
    for name, cls in ACTIVATIONS.items():
        assert type(as_activation(name)) is cls and type(as_activation(name.upper())) is cls
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "abs", "erf", "sign", "step"}


def test_unknown_activation_lists_the_valid_names(tmp_path):
    with pytest.raises(
        ValueError, match="unknown activation 'tanh'; valid names: relu, leaky_relu"
    ):
        _model(tmp_path, "model=net", "arch.activation=tanh")


def test_model_mlp_reads_the_arch_and_keeps_nets_mlp_for_relu(tmp_path):
    from nvk.layers import Erf, LayerNet, build_net
    from nvk.nets import MLP

    _, m = _model(tmp_path, "model=mlp", "arch.depth=4", "arch.width=32", info=DIGITS)
    assert isinstance(m.net, MLP) and m.arch.depth == 4 and m.arch.width == 32
    assert analytic_kernel(m.layer, (64,)).func is fc_ntk  # its twin: the fused kernel
    torch.manual_seed(0)
    _, m = _model(tmp_path, "model=mlp", "arch.activation=erf", "arch.width=32", info=DIGITS)
    torch.manual_seed(0)
    ref = build_net(mlp(3, 32, 10, activation="erf"), (64,))
    assert isinstance(m.net, LayerNet) and any(isinstance(a, Erf) for a in m.layer.layers)
    x = torch.rand(4, 64)
    torch.testing.assert_close(m(x), ref(x), rtol=0, atol=0)
    assert m.hparams["activation"] == "erf"
    _, w = _model(tmp_path, "model=mlp", "model.width=16", info=DIGITS)  # the net alone
    assert w.arch.width == 16


def test_model_cnn_reads_arch_cnn_and_its_ntk_twin_is_the_cntk(tmp_path):
    from nvk.layers import LayerNet, build_net
    from nvk.nets import CNN

    _, net = _model(tmp_path, "model=cnn", "arch.depth=2", "arch.channels=8", info=DIGIT_IMAGES)
    assert isinstance(net.net, CNN) and net.spec.depth == 2 and net.spec.channels == 8
    _, ntk = _model(tmp_path, "model=ntk", "arch=cnn", "arch.depth=2", info=DIGIT_IMAGES)
    _, cntk_model = _model(tmp_path, "model=cntk", "kernel.depth=2", info=DIGIT_IMAGES)
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    assert (ntk.kernel_fn(x, x) - cntk_model.kernel_fn(x, x)).abs().max() <= ATOL
    torch.manual_seed(0)
    _, erf = _model(tmp_path, "model=cnn", "arch.activation=erf", "arch.depth=2",
                    "arch.channels=8", info=DIGIT_IMAGES)  # fmt: skip
    torch.manual_seed(0)
    ref = build_net(cnn(2, 8, "flatten", 10, activation="erf"), (1, 8, 8))
    assert isinstance(erf.net, LayerNet)
    torch.testing.assert_close(erf(x.float()), ref(x.float()), rtol=0, atol=0)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_fused_cntk_covers_both_readouts_and_keeps_the_config_cache_key(readout):
    from nvk.kernels import bind_image_shape, kernel_config, kernel_key

    layer = cnn(2, 4, readout=readout)
    k = analytic_kernel(layer, (1, 8, 8))
    assert k.func is cntk and k.keywords["readout"] == {"flatten": "trace", "gap": "gap"}[readout]
    x = _randn(5, 64)
    assert (k(x) - LayerKernel(layer, (1, 8, 8))(x)).abs().max() <= ATOL
    cfg = kernel_config(k)  # what conf/kernel/cntk.yaml would hold for it
    assert cfg["image_shape"] is None and "chunk_bytes" not in cfg
    ntk = analytic_kernel(mlp(3), (7,))  # fc_ntk: the same partial as conf/kernel/fc_ntk.yaml
    conf = instantiate(OmegaConf.load(CONF / "kernel" / "fc_ntk.yaml"))
    assert kernel_key(ntk) == kernel_key(bind_image_shape(conf, (7,)))


@pytest.mark.parametrize("readout", ["trace", "gap"])
@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 6, 6)])
def test_cexp_list_dispatches_to_the_fused_cexp_and_agrees(readout, shape):
    from nvk.kernels import cexp
    from nvk.layers import ExpMap
    from nvk.layers import cexp as cexp_list

    layer = cexp_list(2, c=0.7, gamma=1.3, readout=readout, in_shape=shape)
    k = fused_kernel(layer, shape, "nngp")
    assert k.func is cexp and k.keywords["readout"] == readout and k.keywords["c"] == 0.7
    x = _randn(5, math.prod(shape))
    ref = LayerKernel(layer, shape, "nngp")(x)
    assert ((k(x) - ref).abs().max() / ref.abs().max()) <= 1e-14  # 1-homogeneous: relative
    other = serial(*layer.layers[:3], ExpMap(0.5, 1.3), *layer.layers[4:])  # two different c
    assert fused_kernel(other, shape, "nngp") is None
    assert fused_kernel(cexp_list(2, in_shape=(3, 8, 8)), (1, 8, 8), "nngp") is None  # C differs


def test_model_mlp_with_an_image_arch_says_which_models_take_it(tmp_path):
    with pytest.raises(ValueError, match=r"reads 'arch.width'.*model=net.*model=ntk\|nngp"):
        _model(tmp_path, "model=mlp", "arch=cnn", info=DIGIT_IMAGES)


def test_kernel_model_form(tmp_path):
    # studies that sweep kernel parameters by name see model=ntk as fc_ntk's kernel model
    from nvk.models.arch import kernel_model_form

    cfg, a = _model(tmp_path, "model=ntk", "arch.depth=4", "arch.b_std=0.2", info=DIGITS)
    kcfg = kernel_model_form(cfg, DIGITS)
    assert cfg.get("kernel") is None and kcfg.kernel._target_ == "nvk.kernels.fc_ntk"
    assert kcfg.kernel.depth == 4 and kcfg.kernel.bias == 0.2 and kcfg.kernel.frozen_layers == 0
    b = build(kcfg.model, info=DIGITS)
    assert type(b).__name__ == "KernelModule" and b.solver.options == a.solver.options
    x = torch.rand(7, 64, dtype=torch.float64)
    torch.testing.assert_close(a.kernel_fn(x, x), b.kernel_fn(x, x), rtol=0, atol=0)
    laplace = compose_cfg("train", ["model=laplace"], tmp_path, hydra_cfg=False)
    assert kernel_model_form(laplace, DIGITS) is laplace
    erf = compose_cfg("train", ["model=ntk", "arch.activation=erf"], tmp_path, hydra_cfg=False)
    with pytest.raises(ValueError, match="composed from its layers and has no kernel config"):
        kernel_model_form(erf, DIGITS)


def test_image_arch_on_flattened_data_says_what_to_set(tmp_path):
    with pytest.raises(ValueError, match=r"data\.flatten=false"):
        _model(tmp_path, "model=ntk", "arch=cnn", "data.flatten=true")


# -- a residual CNN, in process ----------------------------------------------------------------
def test_resnet_trains_one_epoch_and_its_ntk_fits_a_subset(cfg_train, tmp_path):
    arch = ["arch=resnet", "arch.blocks=1", "arch.channels=8"]
    cfg = cfg_train("model=net", *arch)
    metrics = train(cfg)
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics) and metrics["test/acc"] > 0.1
    # the checkpoint reloads into the model evaluate.py builds from the saved config
    out = Path(cfg.paths.output_dir)
    (out / ".hydra").mkdir(exist_ok=True)
    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    ckpt = json.loads((out / "metrics.json").read_text())["checkpoint"]
    eval_args = [f"ckpt_path={ckpt}", "trainer=cpu", "trainer.enable_progress_bar=false"]
    eval_cfg = compose_cfg("eval", eval_args, tmp_path / "eval")
    assert evaluate_checkpoint(eval_cfg)["test/acc"] == pytest.approx(metrics["test/acc"])

    cfg = compose_cfg("train", ["model=ntk", *arch], tmp_path, hydra_cfg=False)
    dm = instantiate(cfg.data)
    dm.setup()
    m = build(cfg.model, info=dm.info)
    assert isinstance(m.kernel, LayerKernel)
    d = dm.full_batch()
    m.fit_data(d.x_train[:20], d.y_train[:20])
    assert (m(d.x_train[:20]).argmax(1) == d.y_train[:20]).all()  # ridge 0: interpolates
    assert torch.isfinite(m(d.x_test[:10])).all()


# -- train.py as typed -------------------------------------------------------------------------
FAST = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
    "arch=mlp",  # a sweep's first composition has the default model (mlp, no arch): name it
    "arch.width=64",
]


def _train_py(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, f"train.py {args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r


def _jobs(sweep: Path, n: int) -> list[dict]:
    jobs = [sweep / str(i) for i in range(n)]
    return [json.loads((j / "metrics.json").read_text()) for j in jobs]


def test_multirun_over_the_mlp_and_its_ntk_with_one_arch_override(tmp_path):
    # the command: python train.py -m model=mlp,ntk arch.depth=5
    sweep = tmp_path / "sweep"
    r = _train_py("-m", "model=mlp,ntk", "arch.depth=5", *FAST, f"hydra.sweep.dir={sweep}")
    assert r.stdout.count("[nvk] done") == 2
    for i, metrics in enumerate(_jobs(sweep, 2)):
        assert "test/acc" in metrics
        cfg = OmegaConf.load(sweep / str(i) / "config_resolved.yaml")
        assert cfg.arch._target_ == "nvk.layers.mlp" and cfg.arch.depth == 5
    mlp_cfg = OmegaConf.load(sweep / "0" / "config_resolved.yaml")
    assert mlp_cfg.model._target_ == "nvk.models.MLPModule" and mlp_cfg.model.depth == 5


def test_erf_network_its_ntk_and_nngp_through_train_py(tmp_path):
    sweep = tmp_path / "sweep"
    r = _train_py("-m", "model=mlp,ntk,nngp", "arch.activation=erf", *FAST,
                  f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert r.stdout.count("[nvk] done") == 3 and r.stdout.count("test/acc=") == 3
    net, ntk, nngp = _jobs(sweep, 3)
    assert "train/loss" in net and ntk["test/acc"] > 0.9 and nngp["test/acc"] > 0.9  # KRR
    for i in range(3):
        assert "activation: erf" in (sweep / str(i) / "config_resolved.yaml").read_text()
