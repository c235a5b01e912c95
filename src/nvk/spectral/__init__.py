"""Spectra of nvk's kernels: Funk–Hecke eigenvalues on S^{d−1} (`sphere`), decay-rate and
exponential-to-profile fits (`fits`), Gram spectra, Monte Carlo projections and Nyström
eigenfunctions (`empirical`). numpy float64 throughout; see docs/spectral.md."""

from nvk.harmonics import multiplicity, uniform_sphere
from nvk.spectral.empirical import (
    NystromEigen,
    abs_correlation,
    common_cuts,
    eigen_clusters,
    gram_spectrum,
    nystrom_eigen,
    projected_eigenvalues,
    subspace_agreement,
    uniform_disk,
)
from nvk.spectral.fits import (
    DecayFit,
    ProfileFit,
    decay_slopes,
    fit_decay,
    fit_exponential,
    local_slopes,
)
from nvk.spectral.sphere import KernelProfile, SphereSpectrum, sphere_eigenvalues, theta_rule

__all__ = [
    "DecayFit",
    "KernelProfile",
    "NystromEigen",
    "ProfileFit",
    "SphereSpectrum",
    "abs_correlation",
    "common_cuts",
    "decay_slopes",
    "eigen_clusters",
    "fit_decay",
    "fit_exponential",
    "gram_spectrum",
    "local_slopes",
    "multiplicity",
    "nystrom_eigen",
    "projected_eigenvalues",
    "sphere_eigenvalues",
    "subspace_agreement",
    "theta_rule",
    "uniform_disk",
    "uniform_sphere",
]
