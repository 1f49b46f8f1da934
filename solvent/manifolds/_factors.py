"""Helpers shared by the factorised chart manifolds (fixed_rank, psd_fixed_rank, elliptope).

* :func:`check_rank` - the ``rank`` argument, checked once at construction;
* :func:`top_eigh` - the k largest eigenpairs of the Hermitian part of a matrix;
* :func:`psd_factor` - Y (n x k) with Y Y^H the nearest PSD matrix of rank <= k;
* :func:`rank_floor` - the smallest singular value or eigenvalue a projection keeps,
  so that a projected point has rank exactly k;
* :class:`SquareFactorChart` - the shapes of a chart X = F(Y) F(Y)^H from an n x k
  factor Y onto n x n matrices (psd_fixed_rank, elliptope).
"""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldParameterError, ManifoldShapeError
from solvent.manifolds._linalg import hermitian_part
from solvent.manifolds.base import ChartManifold

__all__ = ["SquareFactorChart", "check_rank", "psd_factor", "rank_floor", "top_eigh"]


class SquareFactorChart(ChartManifold):
    """n x n points reached from an n x k factor Y: rank, point and free-variable shapes.

    Subclasses implement the maths (``_dissolve``, ``_lift``, ``_project``,
    ``_violation``); ``square_hint`` completes the error for a non-square shape.
    """

    ndim = 2
    square_hint = "the point is square"

    def __init__(self, rank: int = 2) -> None:
        self.rank = check_rank(self.name, rank)

    def check_shape(self, shape) -> None:
        super().check_shape(shape)
        n, m = shape[-2:]
        if n != m or n < self.rank:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"square n x n points with n >= rank = {self.rank}",
                f"{self.square_hint}; lower the rank or use a larger matrix",
            )

    def _free_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(..., n, n) -> (..., n, k)``."""
        return (*shape[:-1], self.rank)

    def _point_shape(self, free_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(..., n, k) -> (..., n, n)``; a factor with another number of columns has no point."""
        if len(free_shape) < 2 or free_shape[-1] != self.rank:
            raise ManifoldShapeError(
                self.name,
                free_shape,
                f"a factor Y of shape (..., n, {self.rank}) as the free variable",
                "build it with free_shape(point shape) or lift(point)",
            )
        return (*free_shape[:-1], free_shape[-2])

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(self.rank + 1, self.rank + 1), (self.rank + 3, self.rank + 3)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        too_small = [(self.rank - 1, self.rank - 1)] if self.rank > 1 else []
        return [(), (3,), (3, 4), *too_small]

    def bad_free_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (4, self.rank + 1), (self.rank - 1, self.rank)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank})"


def check_rank(name: str, rank: object) -> int:
    """``rank`` as a positive int, or a ManifoldParameterError naming the manifold.

    Example:
        >>> check_rank("fixed_rank", 3)
        3
    """
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ManifoldParameterError(
            name, "rank", f"rank must be a positive int, got {rank!r}", f"e.g. {name}(rank=2)"
        )
    return rank


def top_eigh(X: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest eigenvalues (ascending, real) and eigenvectors of ``(X + X^H) / 2``.

    Example:
        >>> w, Q = top_eigh(torch.diag(torch.tensor([3.0, 1.0, 2.0])), 2)
        >>> w
        tensor([2., 3.])
    """
    w, Q = torch.linalg.eigh(hermitian_part(X))
    return w[..., -k:], Q[..., :, -k:]


def rank_floor(scale: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """``100 n eps * scale`` (``scale`` 0 counts as 1): what a projection keeps of a zero mode.

    Example:
        >>> float(rank_floor(torch.tensor(0.0), 1, torch.float64)) > 0
        True
    """
    eps = torch.finfo(dtype).eps
    return 100.0 * n * eps * torch.where(scale > 0, scale, torch.ones_like(scale))


def psd_factor(X: Tensor, k: int, floor: bool) -> Tensor:
    """Y (n x k) with ``Y Y^H`` the nearest PSD matrix of rank <= k to X (Frobenius norm).

    The top k eigenpairs of the Hermitian part, eigenvalues clamped at 0 (at
    :func:`rank_floor` with ``floor=True``, so that the rank is exactly k).

    Example:
        >>> X = torch.diag(torch.tensor([4.0, -1.0, 1.0], dtype=torch.float64))
        >>> Y = psd_factor(X, 2, floor=False)
        >>> torch.allclose(Y @ Y.mT, torch.diag(torch.tensor([4.0, 0.0, 1.0], dtype=torch.float64)))
        True
    """
    w, Q = top_eigh(X, k)
    low: float | Tensor = 0.0
    if floor:
        low = rank_floor(w.abs().amax(-1, keepdim=True), X.shape[-1], w.dtype)
    w = torch.maximum(w, torch.as_tensor(low, dtype=w.dtype, device=w.device))
    return (Q * w.sqrt().to(Q.dtype).unsqueeze(-2)).contiguous()
