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
# Rather than bound that with norms of grad f and Hess f (an earlier estimate,
# ||grad f||_F + ||Hess f||_2: 5-15x the measured need, which slowed every
# method), we measure the need at the projected start X0, for any manifold:
# along a normal direction d = J(X0)^T u (J the Jacobian of C) the curvature of
# h is kappa(d) + beta pi(d), with kappa(d) = d^T Hess(f o A)(X0) d and
# pi(d) = d^T Hess(1/2 ||C||^2)(X0) d = ||J d||^2. So h is convex across M at X0
# iff beta > max_d -kappa(d) / pi(d), a generalized eigenvalue over the normal
# space, which we take over ``directions`` random normal directions (exact
# Hessian-vector products; the products with the penalty's Hessian never touch
# f, so the cost is ~``directions`` evaluations of Hess(f o A) v). Then
#
#     beta = max(2 * that need, 0.01 ||grad f(X0)||_F, 1e-8)
#
# the factor 2 because the need changes along the path (on Stiefel it is
# 3/4 of the largest eigenvalue of -sym(X^T grad f), which moves with X). Where
# f o A is already convex across M (PCA: -tr(X^T H X) with H positive
# definite) the need is negative and beta is the small floor. Measured (same
# start, iterations of L-BFGS to relative ||rgrad|| <= 1e-6, old estimate ->
# this one): Brockett St(50, 5) 334 -> 273, rank-4 nearest correlation on the
# oblique (40, 4) 653 -> 218, PCA St(1000, 20) 68 -> 43; CDOpt's sampled
# estimate gives 235, 200 and 46 there. We deliberately keep the factor small:
# beta also sets the curvature of h across M (4 beta on Stiefel), and a beta
# far above the curvature of f along M makes h ill-conditioned. The estimate is
# local (f may curve more elsewhere), so minimize() guards every solve: when the
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
from solvent.manifolds.base import Manifold
from solvent.optim.cdf import scalar_value
from solvent.plugins.manager import manifold as _manifold

__all__ = ["estimate_beta"]


def estimate_beta(
    f: Callable[[Point], Tensor],
    X0: Point,
    manifold: str | Manifold = "stiefel",
    *,
    directions: int = 8,
    generator: torch.Generator | None = None,
) -> float:
    """The penalty weight that makes h convex across the manifold at X0, twice over.

    See Note [beta estimate]: ``max(2 max_d -kappa(d) / pi(d), 0.01 ||grad f(X0)||, 1e-8)``
    over random normal directions d.

    Args:
        f: the objective (a real scalar function of a point).
        X0: a point on the manifold (a tensor or a tuple of tensors).
        manifold: a registered name or a Manifold instance.
        directions: how many random normal directions to measure the curvature along.
        generator: for those directions.

    Returns:
        A positive float.

    Example:
        >>> import torch
        >>> H = torch.diag(torch.tensor([3.0, 1.0, -2.0], dtype=torch.float64))
        >>> x0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
        >>> # along x0: f(A) curves by -2 x0^T H x0 = -6, the penalty by 4 beta: need 1.5, twice
        >>> round(estimate_beta(lambda x: x @ H @ x, x0, "sphere"), 3)
        3.0
    """
    M = _manifold(manifold)
    layout = Layout(X0)
    x = layout.flatten(X0).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        A, C = M.dissolve_with_constraint(layout.unflatten(x))
        value = scalar_value(f(A))
        if not torch.isfinite(value):
            bad = float(value.detach())
            raise ObjectiveError(f"the objective returned {bad} at the starting point")
        (g,) = torch.autograd.grad(value, x, create_graph=True)
        floor = max(0.01 * _euclidean_grad_norm(f, layout, x.detach()), 1e-8)
        need = _normal_need(g, M.penalty_from_constraint(C), C, x, directions, generator)
    beta = max(2.0 * need, floor)
    return beta if math.isfinite(beta) else floor


def _normal_need(g: Tensor, pen: Tensor, C: Tensor, x: Tensor, k: int, generator) -> float:
    """max over span{J^T u_i} of -kappa(d) / pi(d) (Note [beta estimate]); -inf if none."""
    Cr = torch.view_as_real(C) if C.is_complex() else C
    if Cr.numel() == 0 or not pen.requires_grad or k <= 0:
        return -math.inf
    (gp,) = torch.autograd.grad(pen, x, create_graph=True)
    D = []
    for _ in range(min(k, Cr.numel())):
        where = generator.device if generator is not None else Cr.device
        u = torch.randn(Cr.shape, dtype=Cr.dtype, device=where, generator=generator).to(Cr.device)
        (d,) = torch.autograd.grad((Cr * u).sum(), x, retain_graph=True)
        D.append(d)
    D = torch.stack(D)
    P = D @ torch.stack([_hvp(gp, x, d) for d in D]).mT
    K = D @ torch.stack([_hvp(g, x, d) for d in D]).mT
    w, V = torch.linalg.eigh(0.5 * (P + P.mT))
    keep = w > 1e-10 * w.max().clamp_min(0)
    if not bool(keep.any()):
        return -math.inf
    T = V[:, keep] / w[keep].sqrt()  # whitens pi on the sampled normal span
    return float(torch.linalg.eigvalsh(-(T.mT @ (0.5 * (K + K.mT)) @ T)).max())


def _euclidean_grad_norm(f: Callable[[Point], Tensor], layout: Layout, x: Tensor) -> float:
    """||grad f(X0)||_F (of f itself, not of f o A, which vanishes at stationary points)."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(scalar_value(f(layout.unflatten(x))), x, allow_unused=True)
    return 0.0 if g is None else float(torch.linalg.vector_norm(g))


def _hvp(g: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """d(g . v)/dx: a Hessian-vector product through g's graph (zero if g is constant)."""
    if not g.requires_grad:
        return torch.zeros_like(v)
    (Hv,) = torch.autograd.grad((g * v).sum(), x, retain_graph=True, allow_unused=True)
    return torch.zeros_like(v) if Hv is None else Hv
