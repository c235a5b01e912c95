"""Support vector classification on precomputed nvk Gram matrices (scikit-learn's SVC)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.svm import SVC

from nvk.solvers.base import Kernel, Solver, flat64, train_gram
from nvk.solvers.linalg import check_finite_matrix


@dataclass(frozen=True)
class SVCOptions:
    """C > 0: the SVM's box constraint; other settings as in `sklearn.svm.SVC`."""

    C: float = 1.0
    tol: float = 1e-3
    max_iter: int = -1
    cache_size: float = 500.0

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ValueError(f"SVC needs C > 0, got C={self.C}")


def svc_fit(K: torch.Tensor, y: torch.Tensor, options: SVCOptions = SVCOptions()) -> SVC:
    """Fit `SVC(kernel="precomputed")` on K: (N, N) with labels y: (N,)."""
    if K.shape[0] != K.shape[1] or K.shape[0] != len(y):
        raise ValueError(f"K must be (N, N) with N = len(y) = {len(y)}, got {tuple(K.shape)}")
    check_finite_matrix(K)
    clf = SVC(
        kernel="precomputed",
        C=options.C,
        tol=options.tol,
        max_iter=options.max_iter,
        cache_size=options.cache_size,
        decision_function_shape="ovr",
    )
    clf.fit(K.double().cpu().numpy(), y.cpu().numpy())
    return clf


def svc_scores(clf: SVC, K_test: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Decision scores (M, num_classes) from K_test = k(X_test, X_train): (M, N).

    Binary problems give (−s, s); classes absent from training get −inf scores.
    """
    f = np.asarray(clf.decision_function(K_test.double().cpu().numpy()))
    if f.ndim == 1:
        f = np.stack([-f, f], axis=1)
    scores = np.full((f.shape[0], num_classes), -np.inf)
    scores[:, clf.classes_.astype(int)] = f
    return torch.from_numpy(scores)


class SVCSolver(Solver):
    """`solver=svc`: `SVC(kernel="precomputed", C)` on the model's Gram matrix (classification).

    The fitted scikit-learn model travels in checkpoints as pickled bytes (a uint8 tensor).
    """

    state_keys = ("x_train", "svc_pickle")
    stability_hint = "a smaller solver.C"

    def __init__(self, **options) -> None:
        self.options = SVCOptions(**options)
        self.x_train: torch.Tensor | None = None
        self.svc_pickle: torch.Tensor | None = None
        self._clf: SVC | None = None

    def fit(self, kernel, x, y, info, val=None) -> None:
        if info.task != "classification":
            raise ValueError(
                f"solver=svc is for classification, but data {info.name!r} is a regression "
                "task; use solver=krr, solver=falkon or solver=gp"
            )
        X, K = train_gram(kernel, x)
        self._clf = svc_fit(K, y, self.options)
        self.x_train = X
        blob = pickle.dumps(self._clf)
        self.svc_pickle = torch.frombuffer(bytearray(blob), dtype=torch.uint8)

    def loss(self, scores, y, info) -> float:
        """The 0-1 loss (1 − accuracy): SVC's multi-class scores are one-vs-one votes turned
        into one-vs-rest values, with no likelihood or margin to report instead."""
        return float((scores.argmax(1) != y.to(scores.device)).double().mean())

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self._clf = pickle.loads(bytes(self.svc_pickle.cpu().numpy()))  # the user's own file

    def predict(self, kernel: Kernel, x: torch.Tensor) -> torch.Tensor:
        self._require_fitted()
        assert self._clf is not None and self.x_train is not None
        n_cls = int(max(self._clf.classes_.max() + 1, 2))
        return svc_scores(self._clf, kernel(flat64(x).to(self.x_train.device), self.x_train), n_cls)
