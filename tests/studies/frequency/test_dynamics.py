"""Frequency study dynamics against independent references (FFT spectra, Bessel closed forms,
spherical-harmonic expansions) and the paper's acceptance numbers on S¹."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import ive

from nvk.arch import ArchSpec
from nvk.data.sphere import SphereDataModule, equispaced_circle, uniform_sphere
from nvk.harmonics import harmonic_basis
from nvk.kernels import fc_ntk, fc_ntk_from_arch, gaussian, laplace
from nvk.kernels.empirical import empirical_ntk
from nvk.nets.mlp import MLP
from nvk.solvers.kernel_gd import steps_to_fraction
from nvk.studies.frequency.dynamics import (
    HarmonicProjector,
    first_step,
    fit_power,
    kernel_curves,
    network_curves,
    relative_frobenius,
)

KS = [1, 2, 3, 4, 6, 8, 12, 16]


def _circle(n: int, ks: list[int], amp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    dm = SphereDataModule(dim=2, n=n, sampling="equispaced", frequencies=ks,
                          amplitudes=[amp] * len(ks))  # fmt: skip
    dm.setup()
    fb = dm.full_batch()
    return fb.x_train.double(), fb.y_train.double()


def test_projector_recovers_coefficients_on_circle_and_s2() -> None:
    rng = np.random.default_rng(0)
    for x, kmax in ((equispaced_circle(40), 6), (uniform_sphere(300, 3, rng), 5)):
        blocks = [harmonic_basis(k, x) for k in range(kmax + 1)]
        coefs = [rng.standard_normal(b.shape[1]) for b in blocks]
        r = torch.from_numpy(sum(b @ c for b, c in zip(blocks, coefs)))
        norms = HarmonicProjector(x, kmax).norms(r)
        want = torch.tensor([np.linalg.norm(c) for c in coefs], dtype=torch.float64)
        assert torch.allclose(norms, want, atol=1e-8)


def test_projector_needs_enough_points() -> None:
    with pytest.raises(ValueError, match="n >= 33"):
        HarmonicProjector(equispaced_circle(20), 16)


@pytest.mark.parametrize("kernel", ["ntk", "laplace"])
def test_counts_equal_fft_eigenvalue_formula(kernel: str) -> None:
    # equispaced S¹: K is circulant, harmonic k an eigenvector with eigenvalue FFT(K[0])_k
    x, y = _circle(64, KS)
    K = fc_ntk(x, x, depth=3) if kernel == "ntk" else laplace(x, x, c=1.0)
    c = kernel_curves(K, y, HarmonicProjector(x.numpy(), 16), KS, threshold=0.1, max_steps=50)
    lam = np.real(np.fft.fft(K[0].numpy()))
    want = steps_to_fraction(torch.from_numpy(lam[KS]), 1.0 / lam.max(), 0.1)
    assert c.counts == want.tolist()
    assert c.extrapolated == [w > 50 for w in want.tolist()]  # closed form beyond max_steps


def test_gaussian_counts_follow_bessel_and_grow_faster_than_any_power() -> None:
    # exp(−c‖x−z‖²) = e^{−2c} e^{2c cos θ} = Σ_k e^{−2c} I_k(2c) e^{ikθ}: λ_k ∝ I_k(2c)
    n, cc = 128, 1.0
    x, y = _circle(n, KS)
    K = gaussian(x, x, c=cc)
    c = kernel_curves(K, y, HarmonicProjector(x.numpy(), 16), KS, max_steps=200)
    lam = n * ive(np.arange(n), 2 * cc)  # ive = e^{−2c} I_k(2c); aliasing negligible at n=128
    want = steps_to_fraction(torch.from_numpy(lam[KS]), 1.0 / lam[0], 0.1).tolist()
    # eigh resolves λ_k to ~1e-14·λ_max absolute, so a count is known to that relative error
    rel = 1e-14 * lam[0] / lam[KS]
    assert all(abs(a - b) <= r * b + 1 for a, b, r in zip(c.counts, want, rel))
    assert any(c.extrapolated)
    local = fit_power(KS, c.counts)["local"]  # Δlog count / Δlog k keeps rising: no power law
    assert all(b > a for a, b in itertools.pairwise(local))


@pytest.mark.parametrize("kernel", ["ntk", "laplace"])
def test_s1_exponent_is_two(kernel: str) -> None:
    # Geifman et al. 2020: λ_k ~ k^{−d} on S^{d−1} for NTK and Laplace ⇒ steps ~ k² on S¹
    x, y = _circle(128, KS)
    K = fc_ntk(x, x, depth=3) if kernel == "ntk" else laplace(x, x, c=1.0)
    c = kernel_curves(K, y, HarmonicProjector(x.numpy(), 16), KS, max_steps=100)
    p = fit_power(KS, c.counts, kmin=3)["exponent"]
    assert abs(p - 2) <= 0.3, p


def test_fit_power_recovers_exact_power() -> None:
    ks = [1, 2, 4, 8]
    fit = fit_power(ks, [3.0 * k**2.5 for k in ks])
    assert math.isclose(fit["exponent"], 2.5) and math.isclose(fit["r2"], 1.0)
    assert all(math.isclose(v, 2.5) for v in fit["local"])


def test_empirical_ntk_at_width_8192_within_5_percent() -> None:
    # on S¹ (d = 2) the first layer averages only `width` random features, so a single depth-3
    # net at width 4096 sits at 4.4–5.5 % (6 seeds); at 8192 at 1.9–5.6 % (docs/frequency.md)
    x, _ = _circle(32, [1])
    arch = ArchSpec(depth=3, width=8192)
    torch.manual_seed(0)
    emp = empirical_ntk(MLP(arch, 2, 1), x.float()).double()
    assert relative_frobenius(emp, fc_ntk_from_arch(arch)(x, x)) < 0.05


def _ntk_change(width: int, steps: int) -> float:
    ks = [1, 2, 4]
    x, y = _circle(32, ks, amp=0.1)
    torch.manual_seed(0)
    net = MLP(ArchSpec(depth=3, width=width), 2, 1)
    c = network_curves(net, x.float(), y.float(), HarmonicProjector(x.numpy(), 4), ks,
                       threshold=1e-3, max_steps=steps)  # fmt: skip
    return c.extra["ntk_relative_change"]


def test_ntk_change_shrinks_with_width() -> None:
    changes = [_ntk_change(w, 40) for w in (32, 128, 512)]
    assert changes[0] > changes[1] > changes[2]


@pytest.mark.slow
def test_ntk_change_shrinks_with_width_up_to_4096() -> None:
    changes = [_ntk_change(w, 100) for w in (1024, 2048, 4096)]
    assert changes[0] > changes[1] > changes[2]


def test_wide_network_counts_track_its_ntk_twin() -> None:
    ks = [1, 2, 3, 4]
    x, y = _circle(32, ks, amp=0.1)
    arch = ArchSpec(depth=3, width=1024)
    torch.manual_seed(1)
    proj = HarmonicProjector(x.numpy(), 4)
    net = network_curves(MLP(arch, 2, 1), x.float(), y.float(), proj, ks, max_steps=400,
                         reference_ntk=fc_ntk_from_arch(arch)(x, x))  # fmt: skip
    twin = kernel_curves(fc_ntk_from_arch(arch)(x, x), y, proj, ks, max_steps=400)
    assert all(c is not None for c in net.counts)
    # the network's GD is its NTK's up to O(1/√width) kernel error (at init: ~ that relative)
    tol = 3 * net.extra["ntk_init_relative_error"] + net.extra["ntk_relative_change"]
    for a, b in zip(net.counts, twin.counts):
        assert abs(a - b) <= tol * b + 1, (net.counts, twin.counts)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"threshold": 1.0}, "threshold"), ({"lr": 2.5}, "lr"), ({"frequencies": [0]}, "frequencies")],
)
def test_bad_options(kw: dict, match: str) -> None:
    x, y = _circle(16, [1])
    args = {"frequencies": [1], **kw}
    with pytest.raises(ValueError, match=match):
        kernel_curves(laplace(x, x), y, HarmonicProjector(x.numpy(), 1), args.pop("frequencies"),
                      **args)  # fmt: skip


def test_first_step_doubles_then_bisects() -> None:
    calls: list[float] = []

    def reached(t: float) -> bool:
        calls.append(t)
        return t >= 37

    assert first_step(reached, 3) == 37 and calls[:4] == [6.0, 12.0, 24.0, 48.0]
    assert first_step(lambda t: t >= 1, 0) == 1  # from step 0: 1, 2, 4, ...
    assert first_step(lambda t: False, 10, limit=1e6) == math.inf
