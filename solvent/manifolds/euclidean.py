"""Euclidean space: no constraint at all."""

from __future__ import annotations

from torch import Tensor

from solvent.manifolds.base import Manifold

__all__ = ["Euclidean"]


class Euclidean(Manifold):
    """All of R^n (or C^n): ``C(X)`` is empty and ``A(X) = X``.

    Args:
        ndim: how many trailing dimensions form one point (default 1, a vector;
            ``ndim=2`` makes a matrix one point, e.g. beside a matrix factor in a product).

    Example:
        >>> import torch, solvent
        >>> X = torch.randn(3, 2)
        >>> torch.equal(solvent.manifold("euclidean").dissolve(X), X)
        True
    """

    name = "euclidean"

    def __init__(self, ndim: int = 1) -> None:
        if not isinstance(ndim, int) or isinstance(ndim, bool) or ndim < 1:
            raise ValueError(f"euclidean needs ndim >= 1 (dimensions per point), got {ndim!r}")
        self.ndim = ndim

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X): an empty tensor per batch element (nothing to satisfy)."""
        return X.new_zeros(*X.shape[: X.ndim - self.ndim], 0)

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = X."""
        return X

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Every point is feasible: X itself."""
        return X

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """The number of real coordinates of one point (two per complex entry)."""
        return self.point_numel(shape) * (2 if complex else 1)

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3,), (5,)] if self.ndim == 1 else [(4, 2), (3, 3)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [()] if self.ndim == 1 else [(), (3,)]
