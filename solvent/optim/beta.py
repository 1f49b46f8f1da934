"""An estimate of the penalty weight beta from first and second derivatives of f.

# Note [beta estimate]
# ~~~~~~~~~~~~~~~~~~~~
# Xiao, Liu and Toh (arXiv:2203.10319, and 2212.02698 for the general
# constraint dissolving map) prove that h(X) = f(A(X)) + beta/2 ||C(X)||^2 and
# min f over M share first-order stationary points, and local minimisers, in a
# neighbourhood Omega of M once beta exceeds a threshold proportional to bounds
# of ||grad f|| (and, for second order, of ||Hess f||) over Omega. The
# constants depend on A. Worked case, Stiefel with A(X) = X(3/2 I - 1/2 X^T X):
# along a normal direction X S (S symmetric) A(X + t X S) = X(I - 3/2 t^2 S^2)
# + O(t^3), so f(A(.)) curves by -3 <X^T grad f, S^2> while the penalty curves
# by 4 beta ||S||^2: h is convex across M only if beta > 3/4 ||X^T grad f||_2.
# Below that, h is unbounded below off M (f(A(sX)) ~ -s^6 beats s^4) and
# Newton-type solvers run away (CDOpt's Newton-CG reaches f ~ -8e143).
#
# We estimate sup_Omega ||grad f|| <= ||grad f(X0)|| + L r with L the
# curvature of f and r ~ 1 (manifolds given by C(X) = 0 with C of unit scale:
# frames, spheres, unit rows), and take
#
#     beta = ||grad f(X0)||_F + ||Hess f(X0)||_2,
#
# both at the projected start X0, the Hessian norm by a few power iterations
# of exact Hessian-vector products (double backward). For f = -tr(X^T H X)
# this gives 2 ||H X0||_F + 2 ||H||_2, above the 3/2 ||H||_2 that the worked
# case needs. We deliberately add no large safety factor: beta also sets the
# curvature of h across M, and a beta far above the curvature of f along M
# makes h ill-conditioned and slows L-BFGS and CG. The estimate is local (f
# may curve more elsewhere), so minimize() guards every solve: when the
# violation leaves Omega it restarts from the projected last good iterate with
# ten times beta (Note [divergence guard] in solvent.optim.minimize).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import Layout, Point
from solvent.exceptions import ObjectiveError
from solvent.optim.cdf import scalar_value

__all__ = ["estimate_beta"]


def estimate_beta(
    f: Callable[[Point], Tensor],
    X0: Point,
    *,
    power_iterations: int = 8,
    generator: torch.Generator | None = None,
) -> float:
    """``||grad f(X0)||_F + ||Hess f(X0)||_2`` at a feasible X0 (see Note [beta estimate]).

    Args:
        f: the objective (a real scalar function of a point).
        X0: a point on the manifold (a tensor or a tuple of tensors).
        power_iterations: Hessian-vector products spent on the Hessian norm.
        generator: for the power iteration's random start.

    Returns:
        A positive float; 1.0 when f is flat to first and second order at X0.

    Example:
        >>> import torch
        >>> H = torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64))
        >>> X0 = torch.eye(3, 1, dtype=torch.float64)
        >>> round(estimate_beta(lambda X: -(X * (H @ X)).sum(), X0), 3)  # 2*3 + 2*3
        12.0
    """
    layout = Layout(X0)
    x = layout.flatten(X0).detach().clone().requires_grad_(True)
    value = scalar_value(f(layout.unflatten(x)))
    if not torch.isfinite(value):
        bad = float(value.detach())
        raise ObjectiveError(f"the objective returned {bad} at the starting point")
    (g,) = torch.autograd.grad(value, x, create_graph=True)
    grad_norm = float(torch.linalg.vector_norm(g.detach()))
    hess_norm = _hessian_norm(g, x, power_iterations, generator)
    beta = grad_norm + hess_norm
    return beta if math.isfinite(beta) and beta > 0 else 1.0


def _hessian_norm(g: Tensor, x: Tensor, iterations: int, generator) -> float:
    """||Hess||_2 by power iteration with Hessian-vector products d(g . v)/dx."""
    if not g.requires_grad or iterations <= 0:
        return 0.0  # f is affine in x: no curvature
    v = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    v = v / torch.linalg.vector_norm(v)
    lam = 0.0
    for _ in range(iterations):
        (w,) = torch.autograd.grad((g * v).sum(), x, retain_graph=True, allow_unused=True)
        if w is None:
            return 0.0
        lam = float(torch.linalg.vector_norm(w))
        if lam == 0.0 or not math.isfinite(lam):
            return 0.0 if lam == 0.0 else lam
        v = w / lam
    return lam
