"""Symmetric (Hermitian) matrices: a linear subspace, dissolved exactly by its projection."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds._linalg import hermitian_part
from solvent.manifolds.base import Manifold

__all__ = ["Symmetric", "check_square"]


def check_square(name: str, shape: tuple[int, ...]) -> None:
    """Raise ``ManifoldShapeError`` unless the point (last two dimensions) is a square matrix."""
    if shape[-1] != shape[-2]:
        raise ManifoldShapeError(
            name, shape, f"a square matrix per point, got {shape[-2]}x{shape[-1]}",
            "constrain a square weight, or a square block of it",
        )  # fmt: skip


class Symmetric(Manifold):
    """``X = X^H``: ``C(X) = X - X^H``, ``A(X) = (X + X^H) / 2``.

    Real points are symmetric, complex points Hermitian (the conjugate
    transpose, as everywhere in solvent). A is the orthogonal projection onto
    the subspace, so it is exact: ``A(X)`` is on M for every X, ``DA`` is the
    projection onto T M = M, and the penalty only keeps the free variable
    near M. Cost per forward: one transpose and one add (n^2).

    Example:
        >>> import torch, solvent
        >>> S = solvent.manifold("symmetric")
        >>> X = S.dissolve(torch.tensor([[1.0, 2.0], [0.0, 3.0]]))
        >>> X
        tensor([[1., 1.],
                [1., 3.]])
        >>> float(S.violation(X))
        0.0
    """

    name = "symmetric"
    ndim = 2

    def check_shape(self, shape) -> None:
        """Needs square matrices, after any batch dimensions."""
        super().check_shape(shape)
        check_square(self.name, tuple(shape))

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = X - X^H."""
        return X - X.mH

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = (X + X^H) / 2."""
        return hermitian_part(X)

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        XH = X.mH
        return 0.5 * (X + XH), X - XH

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The nearest symmetric (Hermitian) matrix: (X + X^H) / 2."""
        return hermitian_part(X)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """The symmetric part of a Gaussian matrix."""
        return hermitian_part(torch.randn(shape, dtype=dtype, device=device, generator=generator))

    def _dimension(self, shape, complex: bool) -> int:
        n = shape[-1]
        return n * n if complex else n * (n + 1) // 2

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3, 3), (1, 1)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]
