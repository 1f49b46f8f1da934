"""Skew-symmetric (skew-Hermitian) matrices: a linear subspace, dissolved by its projection."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.manifolds.base import Manifold
from solvent.manifolds.symmetric import check_square

__all__ = ["Skew", "skew_part"]


def skew_part(X: Tensor) -> Tensor:
    """(X - X^H) / 2.

    Example:
        >>> skew_part(torch.tensor([[0.0, 2.0], [0.0, 0.0]]))
        tensor([[ 0.,  1.],
                [-1.,  0.]])
    """
    return 0.5 * (X - X.mH)


class Skew(Manifold):
    """``X = -X^H``: ``C(X) = X + X^H``, ``A(X) = (X - X^H) / 2``.

    Real points are skew-symmetric, complex points skew-Hermitian (the Lie
    algebras of SO(n) and U(n)). A is the orthogonal projection onto the
    subspace: exact, ``DA`` the projection onto T M = M. Cost per forward:
    one transpose and one subtraction (n^2).

    Example:
        >>> import torch, solvent
        >>> K = solvent.manifold("skew")
        >>> K.dissolve(torch.tensor([[1.0, 2.0], [0.0, 3.0]]))
        tensor([[ 0.,  1.],
                [-1.,  0.]])
    """

    name = "skew"
    ndim = 2

    def check_shape(self, shape) -> None:
        """Needs square matrices, after any batch dimensions."""
        super().check_shape(shape)
        check_square(self.name, tuple(shape))

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = X + X^H."""
        return X + X.mH

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = (X - X^H) / 2."""
        return skew_part(X)

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        XH = X.mH
        return 0.5 * (X - XH), X + XH

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The nearest skew matrix: (X - X^H) / 2."""
        return skew_part(X)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """The skew part of a Gaussian matrix."""
        return skew_part(torch.randn(shape, dtype=dtype, device=device, generator=generator))

    def _dimension(self, shape, complex: bool) -> int:
        n = shape[-1]
        return n * n if complex else n * (n - 1) // 2

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3, 3), (2, 2)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]
