"""The penalty weight beta, from the worst normal direction at the start.

# Note [beta estimate]
# ~~~~~~~~~~~~~~~~~~~~
# Xiao, Liu and Toh (arXiv:2203.10319, and 2212.02698 for the general
# constraint dissolving map) prove that h(X) = f(A(X)) + beta/2 ||C(X)||^2 and
# min f over M share first-order stationary points, and local minimisers, in a
# neighbourhood Omega of M once beta exceeds a threshold set by bounds of
# grad f (and Hess f) over Omega. Worked case, Stiefel with A(X) = X(3/2 I -
# 1/2 X^T X): along a normal direction X S (S symmetric) A(X + t X S) =
# X(I - 3/2 t^2 S^2) + O(t^3), so f(A(.)) curves by -3 <X^T grad f, S^2> while
# the penalty curves by 4 beta ||S||^2: h is convex across M only if
# beta > 3/4 ||X^T grad f||_2. Below that, h is unbounded below off M.
#
# We measure that need at the feasible start X0. Along a normal direction
# d in N = range J(X0)^T (J the Jacobian of C) the curvature of h is
# kappa(d) + beta pi(d), with pi(d) = ||J d||^2 (the penalty's Hessian at a
# feasible point is J^T J) and kappa(d) = d^T Hess(f o A)(X0) d. A dissolving
# map annihilates normal directions at M (DA(X0) J^T = 0: Xiao et al.'s
# condition), so the chain rule leaves
#
#     kappa(d) = <G, D^2 A(X0)[d, d]>,   G = grad f(X0),
#
# the curvature of phi(X) = <G, A(X)>, a function of the manifold's map alone:
# no Hessian of f. G comes from the solver's first evaluation (the gradient
# with respect to A's output), so the estimate costs no call of f. Then
#
#     need = max over d in N of -kappa(d) / pi(d),
#     beta = max(2 * need, 0.01 ||G||, 1e-8),
#
# a generalized eigenvalue over the *whole* normal space whenever it is small
# enough to hold (dim N x size <= DENSE_LIMIT entries; every benchmark problem
# of 100 to 100,000 unknowns but St(5000, 20)). Taking all of N matters: the
# need is a maximum over independent blocks where the constraint decomposes
# (the rows of an oblique or complex-circle point, the blocks of a batch or a
# product, the gates of a stacked weight), and an earlier estimate from 8
# random combinations of all normal directions averaged them instead: beta at
# x0 was 1.17 instead of 10.8 on ten 3 x 3 rotations, 2.62 instead of 10.2 on
# the complex circle (oblique (50, 1), complex), and L-BFGS stalled at the
# guard's edge for 998 of 1000 iterations. Above DENSE_LIMIT the maximum is
# taken over ``directions`` random normal directions, and the guard raises a
# beta that proves too small in flight (Note [divergence guard] in
# solvent.optim.minimize).
#
# The factor 2 because the need moves along the path (on Stiefel it is 3/4 of
# the largest eigenvalue of sym(X^T grad f), which moves with X). It is kept
# small on purpose: beta also sets the curvature of h across M, and a beta far
# above the curvature of f along M makes h ill-conditioned. Where f o A is
# convex across M the need is negative and beta is the small floor. A map that
# does not annihilate normal directions (measured: DA J^T = 0.23 on the
# symplectic Stiefel map, 2.1 on the hyperbolic one) gets kappa from exact
# Hessian-vector products of f o A along the same directions instead (costing
# one Hessian-vector product of f per direction).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import Layout, Point, flatten, join, parts
from solvent.exceptions import ObjectiveError
from solvent.manifolds.base import Manifold
from solvent.optim.cdf import scalar_value
from solvent.plugins.manager import manifold as _manifold

__all__ = ["DENSE_LIMIT", "estimate_beta", "normal_need"]

# dim N x size of the matrix of all normal directions taken at once (32 MiB in float64)
DENSE_LIMIT = 4_000_000


def estimate_beta(
    f: Callable[[Point], Tensor],
    X0: Point,
    manifold: str | Manifold = "stiefel",
    *,
    directions: int = 16,
    generator: torch.Generator | None = None,
) -> float:
    """The penalty weight that makes h convex across the manifold at X0, twice over.

    See Note [beta estimate]: ``max(2 max_d -kappa(d) / pi(d), 0.01 ||grad f(X0)||, 1e-8)``
    over the normal space at X0 (all of it, or ``directions`` random normal directions
    when it is too large to hold).

    Args:
        f: the objective (a real scalar function of a point).
        X0: a point on the manifold (a tensor or a tuple of tensors).
        manifold: a registered name or a Manifold instance.
        directions: how many random normal directions to use on a large normal space.
        generator: for those directions.

    Returns:
        A positive float (0 for a manifold without constraint, whose penalty is zero).

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
    x = layout.flatten(X0).detach()
    leaves = [t.detach().clone().requires_grad_(True) for t in parts(X0)]
    with torch.enable_grad():
        value = scalar_value(f(join(leaves, X0)))
        if not torch.isfinite(value):
            raise ObjectiveError(f"the objective returned {float(value)} at the starting point")
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
    G = flatten(tuple(torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads)))
    return beta_from_gradient(f, M, layout, x, G, directions=directions, generator=generator)


def beta_from_gradient(f, M: Manifold, layout: Layout, x: Tensor, G: Tensor, *,
                       directions: int = 16, generator: torch.Generator | None = None) -> float:
    """beta of Note [beta estimate] from G = grad f at the feasible flat point x."""
    floor = max(0.01 * float(torch.linalg.vector_norm(G)), 1e-8)
    need = normal_need(M, layout, x, G, f=f, directions=directions, generator=generator)
    if need is None:  # no normal space: nothing to penalise
        return 0.0
    beta = max(2.0 * need, floor)
    return beta if math.isfinite(beta) else floor


def normal_need(M: Manifold, layout: Layout, x: Tensor, G: Tensor, *, f=None,
                directions: int = 16, generator: torch.Generator | None = None) -> float | None:
    """max over normal d of -kappa(d) / pi(d) at x (Note [beta estimate]); None if C is empty.

    Every direction is one element of a batch of copies of the point (a manifold
    maps batches point by point), so each product below is one backward pass.
    """
    x = x.detach()
    with torch.enable_grad():
        m = _rows(M, layout, x[None], constraint=True).shape[-1]
        if m == 0:
            return None
        dense = m * x.numel() <= DENSE_LIMIT
        if dense:
            U = torch.eye(m, dtype=x.dtype, device=x.device)
        else:
            where = generator.device if generator is not None else x.device
            U = torch.randn(directions, m, dtype=x.dtype, device=where, generator=generator)
            U = U.to(x.device)
        B, w = _orthonormal_rows(_vjp_rows(M, layout, x, U))  # a basis of (part of) N
        if B.shape[0] == 0:
            return -math.inf
        # dense: B = W^(-1/2) V^T J, so J B^T = V W^(1/2) and pi is diag(w) on the basis
        P = torch.diag(w) if dense else _pi(M, layout, x, B)
        if f is None or _annihilates(M, layout, x, B.sum(0)):
            K = B @ _phi_hvp_rows(M, layout, x, G, B).mT
        else:
            K = B @ _f_hvp_rows(f, M, layout, x, B).mT
    return _generalized_max(-K, P)


def _rows(M: Manifold, layout: Layout, Z: Tensor, constraint: bool) -> Tensor:
    """C (or A) of each row of Z, a batch of flat points, as real rows."""
    point = tuple(chunk.reshape(Z.shape[0], *shape) for chunk, shape
                  in zip(Z.split(layout.sizes, dim=-1), _real_shapes(layout)))
    point = tuple(torch.complex(t[..., 0], t[..., 1]) if c else t
                  for t, c in zip(point, layout.complex))
    A, C = M._dissolve_with_constraint(point if layout.is_tuple else point[0])
    out = C if constraint else A
    return torch.cat([_real(t).reshape(Z.shape[0], -1) for t in parts(out)], dim=-1)


def _real(t: Tensor) -> Tensor:
    """(re, im) pairs of a complex tensor; stacked rather than viewed, since the double
    backward of ``view_as_real`` needs an even storage offset that a slice may not have."""
    return torch.stack([t.real, t.imag], dim=-1) if t.is_complex() else t


def _real_shapes(layout: Layout) -> list[tuple[int, ...]]:
    return [(*s, 2) if c else s for s, c in zip(layout.shapes, layout.complex)]


def _copies(x: Tensor, k: int) -> Tensor:
    return x.expand(k, x.numel()).clone().requires_grad_(True)


def _vjp_rows(M: Manifold, layout: Layout, x: Tensor, U: Tensor) -> Tensor:
    """J(x)^T u for each row u of U."""
    Z = _copies(x, U.shape[0])
    (D,) = torch.autograd.grad((_rows(M, layout, Z, True) * U).sum(), Z)
    return D


def _pi(M: Manifold, layout: Layout, x: Tensor, B: Tensor) -> Tensor:
    """(J b_i . J b_j): the penalty's Hessian on the rows of B (J b by a double backward)."""
    Z = _copies(x, B.shape[0])
    C = _rows(M, layout, Z, True)
    V = torch.zeros_like(C, requires_grad=True)
    (JtV,) = torch.autograd.grad((C * V).sum(), Z, create_graph=True)
    (JB,) = torch.autograd.grad((JtV * B).sum(), V)
    return JB @ JB.mT


def _phi_hvp_rows(M: Manifold, layout: Layout, x: Tensor, G: Tensor, B: Tensor) -> Tensor:
    """Hess phi(x) b for each row b of B, phi = <G, A(.)> (Note [beta estimate])."""
    Z = _copies(x, B.shape[0])
    (g,) = torch.autograd.grad((_rows(M, layout, Z, False) @ G).sum(), Z, create_graph=True)
    if not g.requires_grad:  # A is affine
        return torch.zeros_like(B)
    (H,) = torch.autograd.grad((g * B).sum(), Z, allow_unused=True)
    return torch.zeros_like(B) if H is None else H


def _f_hvp_rows(f, M: Manifold, layout: Layout, x: Tensor, B: Tensor) -> Tensor:
    """Hess(f o A)(x) b for each row b of B: exact products through f, one per row."""
    z = x.clone().requires_grad_(True)
    A = layout.unflatten(_rows(M, layout, z[None], False)[0])
    (g,) = torch.autograd.grad(scalar_value(f(A)), z, create_graph=True)
    rows = []
    for b in B:
        (Hb,) = torch.autograd.grad((g * b).sum(), z, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(b) if Hb is None else Hb)
    return torch.stack(rows)


def _orthonormal_rows(D: Tensor) -> tuple[Tensor, Tensor]:
    """An orthonormal basis of the row space of D, and the kept eigenvalues of D D^T."""
    w, V = torch.linalg.eigh(D @ D.mT)
    keep = w > 1e-12 * w.max().clamp_min(0)
    w = w[keep]
    return (V[:, keep].mT @ D) / w.sqrt()[:, None], w


def _annihilates(M: Manifold, layout: Layout, x: Tensor, d: Tensor) -> bool:
    """Whether DA(x) d = 0 for the normal direction d (Xiao et al.'s condition), to 1e-8."""
    z = x.clone().requires_grad_(True)
    a = _rows(M, layout, z[None], False)[0]
    v = torch.zeros_like(a, requires_grad=True)
    (DAtv,) = torch.autograd.grad((a * v).sum(), z, create_graph=True)
    if not DAtv.requires_grad:
        return True
    (DAd,) = torch.autograd.grad((DAtv * d).sum(), v)
    return float(torch.linalg.vector_norm(DAd)) <= 1e-8 * float(torch.linalg.vector_norm(d))


def _generalized_max(K: Tensor, P: Tensor) -> float:
    """The largest lambda with K v = lambda P v, P positive semi-definite (on P's range)."""
    w, V = torch.linalg.eigh(0.5 * (P + P.mT))
    keep = w > 1e-10 * w.max().clamp_min(0)
    if not bool(keep.any()):
        return -math.inf
    T = V[:, keep] / w[keep].sqrt()
    S = T.mT @ (0.5 * (K + K.mT)) @ T
    if not bool(torch.isfinite(S).all()):
        raise ObjectiveError("the objective's gradient is not finite at the starting point")
    return float(torch.linalg.eigvalsh(S).max())
