"""The oblique manifold: matrices whose rows all have unit norm."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.manifolds.base import Manifold
from solvent.manifolds.sphere import (
    normalize,
    sphere_dissolve,
    sphere_dissolve_with_constraint,
    squared_norm,
)

__all__ = ["Oblique"]


class Oblique(Manifold):
    """Unit-norm rows: ``C(X) = diag(X X^H) - 1`` and the sphere map row by row.

    ``A(X)_i = 2 x_i / (1 + ||x_i||^2)`` for each row ``x_i``: exact on the
    manifold, its Jacobian there projects each row onto its tangent space, and
    ``C(A(X))_i = -C_i^2 / (2 + C_i)^2``. A point is an n x d matrix (n rows on
    the sphere in R^d or C^d). Real and complex.

    Example:
        >>> import torch, solvent
        >>> Ob = solvent.manifold("oblique")
        >>> X = Ob.random(4, 3, dtype=torch.float64)
        >>> torch.allclose(X.norm(dim=-1), torch.ones(4, dtype=torch.float64))
        True
    """

    name = "oblique"
    ndim = 2

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X)_i = ||x_i||^2 - 1 for each row: shape (..., n), real."""
        return squared_norm(X, (-1,)) - 1.0

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X)_i = 2 x_i / (1 + ||x_i||^2)."""
        return sphere_dissolve(X, (-1,))

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Both from one set of row norms."""
        return sphere_dissolve_with_constraint(X, (-1,))

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Each row divided by its norm (a zero row becomes the first unit vector)."""
        return normalize(X, (-1,))

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Each row uniform on its sphere."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return normalize(G, (-1,))

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3, 2), (2, 4)]
