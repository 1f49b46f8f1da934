"""The constraint dissolving function h(X) = f(A(X)) + beta * penalty(X)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import Point, join, parts
from solvent.exceptions import ObjectiveError
from solvent.manifolds.base import Manifold
from solvent.plugins.manager import manifold as _manifold

__all__ = ["DissolvedFunction", "check_beta", "dissolving_function", "riemannian_grad_norm",
           "scalar_value"]


def scalar_value(value: object, what: str = "f") -> Tensor:
    """Check that an objective returned a real scalar tensor, and return it 0-dimensional."""
    if not isinstance(value, Tensor):
        raise ObjectiveError(
            f"the objective {what} must return a torch scalar tensor, got {type(value).__name__}; "
            "build it from torch operations on X so it can be differentiated"
        )
    if value.numel() != 1:
        raise ObjectiveError(
            f"the objective {what} must return a scalar, got a tensor of shape "
            f"{tuple(value.shape)}; reduce it (.sum(), .mean()) to one number"
        )
    if value.is_complex() or not value.is_floating_point():
        raise ObjectiveError(
            f"the objective {what} must be real floating point, got dtype {value.dtype}"
        )
    return value.reshape(())


class DissolvedFunction:
    """``h(X) = f(A(X)) + beta * 1/2 ||C(X)||^2``: a plain differentiable function of X.

    Attributes:
        f: the objective, called on ``A(X)`` (a tensor, or a tuple for a product manifold).
        manifold: the :class:`~solvent.manifolds.base.Manifold` giving A and C.
        beta: the penalty weight (a positive float).

    Example:
        >>> import torch, solvent.optim
        >>> h = solvent.optim.dissolving_function(lambda X: X.square().sum(), "stiefel", 1.0)
        >>> X = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        >>> h(X).backward()
        >>> X.grad.shape
        torch.Size([4, 2])
    """

    def __init__(self, f: Callable[[Point], Tensor], manifold: Manifold, beta: float) -> None:
        self.f, self.manifold, self.beta = f, manifold, float(beta)
        # Checks at the boundary, maths in the loop: minimize() validated the start once,
        # so an evaluation calls the unvalidated hook when the manifold has one.
        self.pair = getattr(manifold, "_dissolve_with_constraint",
                            manifold.dissolve_with_constraint)

    def parts(self, X: Point) -> tuple[Tensor, Tensor, Tensor]:
        """``(h(X), f(A(X)), penalty(X))``, sharing the work of A and C."""
        A, C = self.pair(X)
        fA = scalar_value(self.f(A))
        pen = self.manifold.penalty_from_constraint(C)
        return fA + self.beta * pen, fA, pen

    def __call__(self, X: Point) -> Tensor:
        return self.parts(X)[0]

    def __repr__(self) -> str:
        return f"DissolvedFunction(f={self.f!r}, manifold={self.manifold.name!r}, beta={self.beta})"


def dissolving_function(
    f: Callable[[Point], Tensor], manifold: str | Manifold, beta: float
) -> DissolvedFunction:
    """The constraint dissolving function h of ``min f(X) s.t. X in manifold``.

    Not to be confused with ``Manifold.dissolve``, the map A(X) that h is built from.

    ``h(X) = f(A(X)) + beta * 1/2 ||C(X)||_F^2`` is unconstrained and
    differentiable (twice, if f is), so any torch optimizer can minimise it;
    for beta large enough its local minimisers near the manifold are those of
    the constrained problem (see Note [beta estimate] in ``solvent.optim.beta``).

    Args:
        f: a function of a point returning a real scalar tensor.
        manifold: a registered manifold name or a Manifold instance.
        beta: the penalty weight, a positive finite number.

    Returns:
        The callable h.

    Example:
        >>> import torch, solvent.optim
        >>> h = solvent.optim.dissolving_function(lambda X: -X[0, 0], "stiefel", beta=2.0)
        >>> X = torch.eye(3, 2, dtype=torch.float64)
        >>> float(h(X))  # on the manifold h = f
        -1.0
    """
    if not callable(f):
        raise ObjectiveError(f"the objective must be callable, got {type(f).__name__}")
    return DissolvedFunction(f, _manifold(manifold), check_beta(beta))


def check_beta(beta: object) -> float:
    """beta as a float, or a clear error if it is not a positive finite number."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a positive number (or 'auto' in minimize), got {beta!r}")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return float(beta)


# Note [riemannian gradient]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# At a feasible X, A(X) = X and the gradient of X -> f(A(X)) is DA(X)^* grad f(X)
# (the chain rule; autograd computes exactly this). DA(X) is a projection onto
# T_X M (idempotent, range T_X M) but not necessarily the orthogonal one P.
# Still, DA(X)^* G = 0 iff G is orthogonal to range DA(X) = T_X M, i.e. iff X is
# first-order stationary for min f over M: the standard CDF stationarity measure
# (Xiao, Liu, Toh). And since DA(X) P = P (DA is the identity on T_X M),
# P = P^* = P DA(X)^*, so ||P G|| <= ||DA(X)^* G||: the norm we report bounds the
# Riemannian gradient norm of the embedded metric from above, with equality when
# DA(X) is orthogonal (Stiefel: DA(X)[D] = D - X sym(X^T D), the orthogonal
# projection). It needs no manifold-specific code, only A.


def riemannian_grad_norm(f: Callable[[Point], Tensor], manifold: Manifold, X: Point) -> float:
    """``||DA(X)^* grad f(X)||`` at a feasible X: see Note [riemannian gradient].

    Example:
        >>> import torch, solvent
        >>> X = torch.eye(3, 1, dtype=torch.float64)
        >>> riemannian_grad_norm(lambda Y: Y.sum(), solvent.manifold("stiefel"), X)  # (0,1,1)
        1.4142135623730951
    """
    leaves = [t.detach().clone().requires_grad_(True) for t in parts(X)]
    with torch.enable_grad():
        value = scalar_value(f(manifold.dissolve(join(leaves, X))))
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
    total = sum(float(torch.linalg.vector_norm(g)) ** 2 for g in grads if g is not None)
    return math.sqrt(total)
