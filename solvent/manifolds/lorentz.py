"""The Lorentz (hyperboloid) model: rows x with -x0^2 + sum_i xi^2 = -1 and x0 > 0."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.base import Manifold

__all__ = ["Lorentz", "minkowski_sqnorm"]


def minkowski_sqnorm(X: Tensor) -> Tensor:
    """<x, x>_L = -x0^2 + sum_{i>0} xi^2 for each row x of X."""
    return X[..., 1:].square().sum(-1) - X[..., 0].square()


class Lorentz(Manifold):
    """Each row on the upper sheet of the hyperboloid: ``C(X)_i = <x_i, x_i>_L + 1``.

    The map rescales each row, ``A(x) = x (1 + C(x)/2) = x (3 + <x, x>_L) / 2``.
    With ``q = <x, x>_L = -1 + c``, ``<A(x), A(x)>_L + 1 = 3/4 c^2 + 1/4 c^3``
    (quadratic pull-back); at a feasible x, ``DA(x)[d] = d + <x, d>_L x``, the
    Minkowski-orthogonal projection onto the tangent space ``{d : <x, d>_L = 0}``.
    The scale factor stays positive while ``<x, x>_L > -3``, so near the upper
    sheet the map keeps x0 > 0. A point is an n x (d+1) matrix of n points of
    hyperbolic d-space (a single point: one row). Real only.

    Example:
        >>> import torch, solvent
        >>> L = solvent.manifold("lorentz")
        >>> X = L.random(3, 4, dtype=torch.float64)
        >>> bool((X[:, 0] > 0).all()), bool(L.violation(X) < 1e-12)
        (True, True)
    """

    name = "lorentz"
    ndim = 2
    supports_complex = False

    def check_shape(self, shape) -> None:
        """Needs rows of length >= 2 (x0 and at least one space coordinate)."""
        super().check_shape(shape)
        if shape[-1] < 2:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"rows of length d + 1 >= 2, got {shape[-1]}",
                "append a time coordinate",
            )

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X)_i = -x_i0^2 + sum_j x_ij^2 + 1: shape (..., n)."""
        return minkowski_sqnorm(X) + 1.0

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(x) = x (3 + <x, x>_L) / 2, row by row."""
        return X * (0.5 * (3.0 + minkowski_sqnorm(X))).unsqueeze(-1)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Keep the space part of each row, set x0 = sqrt(1 + |x_space|^2) (upper sheet)."""
        space = X[..., 1:]
        x0 = (1.0 + space.square().sum(-1, keepdim=True)).sqrt()
        return torch.cat((x0, space), dim=-1)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Space coordinates N(0, 1/(4d)), so distance O(1) from the origin in any d; lifted."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self.project(G * (0.5 / (shape[-1] - 1) ** 0.5))

    def _check_point(self, X: Tensor) -> str | None:
        """On its upper sheet (x0 > 0), beyond C = 0."""
        if not bool((X[..., 0] > 0).all()):
            return "lorentz: some row has x0 <= 0 (the lower sheet of the hyperboloid)"
        return None

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3, 2), (2, 4)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 1)]
