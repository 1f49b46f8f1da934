"""The generic dissolving map, for a manifold given only by its constraint C."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from solvent._points import Layout, flatten

__all__ = ["generic_dissolve"]


# Note [generic dissolving map]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# For a manifold given only by C, with J(X) the Jacobian of vec C at X,
#
#     A(X) = X - J^T (J J^T + rho I)^{-1} C(X)
#
# is a Gauss-Newton step towards {C = 0}. At a feasible X, C = 0, so
# DA(X)[d] = d - J^T (J J^T + rho I)^{-1} J d: up to O(rho) it is the orthogonal
# projection onto null(J) = T_X M, and A(X + eps E) has violation O(eps^2).
# rho > 0 keeps the solve regular when constraints are redundant (C = X^T X - I
# is symmetric, so half of J's rows repeat and J J^T is singular at feasible
# points, where CDOpt's generic map fails). rho is tiny relative to J J^T
# (1e3 * eps * mean diag), so the O(rho) error stays at rounding level. Complex
# points are handled as real pairs. Everything is built from torch.func, so
# autograd (and double backward) flow through the map.


def _realify(M, X: Tensor):
    """C as a function of a real flat vector, with the matching real flat X."""
    layout = Layout(X)

    def C_flat(x: Tensor) -> Tensor:
        return flatten(M._constraint(layout.unflatten(x)))

    return C_flat, layout.flatten(X)


def _generic_point(M, X: Tensor) -> Tensor:
    """The generic map on one point (no batch dimensions)."""
    C_flat, x = _realify(M, X)
    c = C_flat(x)
    if c.numel() == 0:
        return X
    J = torch.func.jacrev(C_flat)(x)  # (m, N)
    G = J @ J.mT
    rho = 1e3 * torch.finfo(x.dtype).eps * (G.diagonal().mean().detach() + 1.0)
    G = G + rho * torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    step = J.mT @ torch.linalg.solve(G, c)
    return cast(Tensor, Layout(X).unflatten(x - step))  # a Tensor point unflattens to a Tensor


def generic_dissolve(M, X: Tensor) -> Tensor:
    """A(X) by Note [generic dissolving map], point by point over the batch, for M's C."""
    batch = X.shape[: X.ndim - M.ndim]
    if not batch:
        return _generic_point(M, X)
    flat = X.reshape(-1, *X.shape[X.ndim - M.ndim :])
    out = torch.stack([_generic_point(M, x) for x in flat.unbind(0)])
    return out.reshape(X.shape)
