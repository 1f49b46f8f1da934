"""Euclidean space: no constraint at all."""

from __future__ import annotations

from torch import Tensor

from solvent.manifolds.base import Manifold

__all__ = ["Euclidean"]


class Euclidean(Manifold):
    """All of R^n (or C^n): ``C(X)`` is empty and ``A(X) = X``.

    Example:
        >>> import torch, solvent
        >>> X = torch.randn(3, 2)
        >>> torch.equal(solvent.manifold("euclidean").dissolve(X), X)
        True
    """

    name = "euclidean"
    ndim = 1

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X): an empty tensor per batch element (nothing to satisfy)."""
        return X.new_zeros(*X.shape[: X.ndim - self.ndim], 0)

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = X."""
        return X

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Every point is feasible: X itself."""
        return X
