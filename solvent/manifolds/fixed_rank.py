"""Matrices of fixed rank: ``{X in F^{m x n} : rank X = k}`` (F = R or C), as ``X = U V^H``."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldParameterError, ManifoldShapeError
from solvent.manifolds._factors import check_rank, rank_floor
from solvent.manifolds.base import ChartManifold

__all__ = ["FixedRank", "pack_factors", "unpack_factors"]


# Note [fixed rank storage]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# A manifold holds no shape, so its map must read the point shape (m, n) from
# the free variable alone. The natural compact store, one (m + n) x k tensor
# [U; V], loses m (a 9 x 2 tensor is 5 x 4 or 6 x 3 or ...), and every layout
# whose shape names both m and n has at least m n entries. Two stores, then:
#
# * packed (the default, rows=None): the free variable has the point's own
#   shape m x n and carries the factors in its leading entries: in row-major
#   order, entries [0, mk) are U (m x k), entries [mk, (m + n) k) are V (n x k),
#   the remaining mn - (m + n) k are unused (zero gradient; lift sets them to
#   zero and an optimizer leaves them there). Needs k (m + n) <= m n (k <= n/2
#   for square n x n). Works for any point shape without being told it.
# * compact (rows=m given): the free variable is [U; V], (m + n) x k, and the
#   instance's ``rows`` says where U ends. (m + n) k numbers, so the optimizer's
#   state and update are that small too (bench_maps_factor's storage table:
#   a training step 0.6x the packed one at 256 and 1024). The price is that
#   the instance is tied to points with m rows.
#
# Either way the map reads views of a contiguous free variable (no copy) and costs one
# m x k by k x n product.


def unpack_factors(Z: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The factors ``(U, V)`` (m x k and n x k) packed in the free variable Z (m x n).

    Example:
        >>> U, V = unpack_factors(torch.arange(12.0).reshape(3, 4), 1)
        >>> U.flatten().tolist(), V.flatten().tolist()
        ([0.0, 1.0, 2.0], [3.0, 4.0, 5.0, 6.0])
    """
    m, n = Z.shape[-2:]
    flat = Z.flatten(-2)
    U = flat[..., : m * k].unflatten(-1, (m, k))
    V = flat[..., m * k : (m + n) * k].unflatten(-1, (n, k))
    return U, V


def pack_factors(U: Tensor, V: Tensor) -> Tensor:
    """The free variable (m x n) holding U (m x k) and V (n x k), its unused entries zero.

    Example:
        >>> Z = pack_factors(torch.ones(3, 1), 2 * torch.ones(4, 1))
        >>> Z.tolist()
        [[1.0, 1.0, 1.0, 2.0], [2.0, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    m, n = U.shape[-2], V.shape[-2]
    used = torch.cat([U.flatten(-2), V.flatten(-2)], dim=-1)
    rest = used.new_zeros((*used.shape[:-1], m * n - used.shape[-1]))
    return torch.cat([used, rest], dim=-1).unflatten(-1, (m, n))


class FixedRank(ChartManifold):
    """m x n matrices of rank exactly k, through balanced factors ``X = U V^H``.

    * point: ``X`` (..., m, n) of rank k;
    * free variable (Note [fixed rank storage] in this module): by default the
      point's shape (..., m, n), holding U (m x k) and V (n x k) packed in its first
      (m + n) k entries, which needs ``k (m + n) <= m n``; with ``rows=m``, the
      compact ``[U; V]`` of shape (..., m + n, k);
    * chart: ``A(Z) = U V^H``, a submersion from full-rank factor pairs onto the
      set (its fibres are the orbits ``(U G, V G^{-H})``, G invertible k x k);
    * lift: ``U = P_k S_k^{1/2}``, ``V = Q_k S_k^{1/2}`` from the truncated SVD
      ``X = P S Q^H``, so ``A(lift(X)) = X``;
    * project: the truncated SVD (Eckart-Young), the k-th singular value raised to
      a tiny positive floor where it is 0, so the rank stays k;
    * violation: ``||X - P_k(X)||_F = (sum_{i > k} s_i^2)^{1/2}``;
    * cost per forward: one m x k by k x n product, mnk multiply-adds.

    Real and complex. Dimension: (m + n - k) k real, twice that complex.

    Args:
        rank: k, with 1 <= k <= min(m, n), and k (m + n) <= m n when packed (default 2).
        rows: m, to store the factors compactly as one (m + n) x k free variable; the
            instance then takes m x n points for that m only. None (default): packed.

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("fixed_rank", rank=2)
        >>> X = M.random(6, 4, dtype=torch.float64)
        >>> int(torch.linalg.matrix_rank(X))
        2
        >>> Z = M.lift(X)
        >>> torch.allclose(M.dissolve(Z), X)
        True
        >>> C = solvent.manifold("fixed_rank", rank=2, rows=6)
        >>> C.free_shape((6, 4)), torch.allclose(C.lift(X)[:6] @ C.lift(X)[6:].mT, X)
        ((10, 2), True)
    """

    name = "fixed_rank"
    ndim = 2

    def __init__(self, rank: int = 2, rows: int | None = None) -> None:
        self.rank = check_rank(self.name, rank)
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 1):
            raise ManifoldParameterError(
                self.name, "rows", f"rows must be a positive int or None, got {rows!r}",
                "rows=m stores the factors of m x n points compactly; None packs them"
            )
        self.rows = rows

    def check_shape(self, shape) -> None:
        super().check_shape(shape)
        m, n = shape[-2:]
        k = self.rank
        if self.rows is not None:
            if m != self.rows or k > min(m, n):
                raise ManifoldShapeError(
                    self.name,
                    shape,
                    f"m x n points with m = rows = {self.rows} and n >= rank = {k}",
                    "build the manifold with rows=m for these points (a constrained wide "
                    "weight is seen through its transpose), or rows=None to pack the factors",
                )
        elif k * (m + n) > m * n:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"rank * (m + n) <= m * n to store the factors U ({m} x {k}) and V ({n} x {k}) "
                f"in the {m} x {n} free variable (here {k * (m + n)} > {m * n})",
                f"use rank <= {m * n // (m + n)} for {m} x {n} matrices, or rows={m} to "
                "store the factors compactly",
            )

    def _free_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Packed: the point's shape; compact: ``(..., m + n, k)``."""
        if self.rows is None:
            return shape
        return (*shape[:-2], shape[-2] + shape[-1], self.rank)

    def _point_shape(self, free_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Packed: the same; compact: ``(..., m + n, k) -> (..., m, n)`` with m = rows."""
        if self.rows is None:
            return free_shape
        if len(free_shape) < 2 or free_shape[-1] != self.rank or free_shape[-2] <= self.rows:
            raise ManifoldShapeError(
                self.name,
                free_shape,
                f"the compact factors [U; V] of shape (..., {self.rows} + n, {self.rank})",
                "build it with free_shape(point shape) or lift(point)",
            )
        return (*free_shape[:-2], self.rows, free_shape[-2] - self.rows)

    def _factors(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        if self.rows is None:
            return unpack_factors(Z, self.rank)
        return Z[..., : self.rows, :], Z[..., self.rows :, :]

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(Z) = U V^H with (U, V) read from Z."""
        U, V = self._factors(Z)
        return U @ V.mH

    def _lift(self, X: Tensor) -> Tensor:
        """Balanced factors ``P_k S_k^{1/2}``, ``Q_k S_k^{1/2}`` of the truncated SVD, packed."""
        P, s, Qh = torch.linalg.svd(X, full_matrices=False)
        k = self.rank
        r = s[..., :k].sqrt().to(X.dtype).unsqueeze(-2)
        U, V = P[..., :, :k] * r, Qh[..., :k, :].mH * r
        return pack_factors(U, V) if self.rows is None else torch.cat([U, V], dim=-2)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The truncated SVD ``P_k S_k Q_k^H`` (singular values floored to keep rank k)."""
        P, s, Qh = torch.linalg.svd(X, full_matrices=False)
        k = self.rank
        floor = rank_floor(s[..., :1], max(X.shape[-2:]), s.dtype)
        s = torch.maximum(s[..., :k], floor).to(X.dtype)
        return (P[..., :, :k] * s.unsqueeze(-2)) @ Qh[..., :k, :]

    def _violation(self, X: Tensor) -> Tensor:
        """``(sum_{i > k} s_i^2)^{1/2}``: the distance to the matrices of rank <= k."""
        s = torch.linalg.svdvals(X)
        return torch.linalg.vector_norm(s[..., self.rank :], dim=-1)

    def _check_point(self, X: Tensor) -> str | None:
        """Rank exactly k: the k-th singular value above the rounding floor."""
        s = torch.linalg.svdvals(X)
        floor = rank_floor(s[..., 0], max(X.shape[-2:]), s.dtype)
        low = s[..., self.rank - 1]
        if bool((low <= 0.1 * floor).any()):
            return (
                f"{self.name}: rank below {self.rank} (k-th singular value "
                f"{float(low.min()):.3g}); project() raises it to a point of rank k"
            )
        return None

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """``U V^H / sqrt(k)`` for Gaussian factors: entries of order 1."""
        *batch, m, n = shape
        U = torch.randn((*batch, m, self.rank), dtype=dtype, device=device, generator=generator)
        V = torch.randn((*batch, n, self.rank), dtype=dtype, device=device, generator=generator)
        return (U @ V.mH) / self.rank**0.5

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """The real dimension of the set of m x n points: (m + n - k) k (twice that complex)."""
        m, n = shape[-2:]
        d = (m + n - self.rank) * self.rank
        return 2 * d if complex else d

    def example_shapes(self) -> list[tuple[int, ...]]:
        k, m = self.rank, self.rows
        if m is not None:
            return [(m, max(k, 1) + 1), (m, m + 2)] if m >= k else []
        return [(2 * k, 2 * k), (3 * k, 2 * k), (2 * k + 1, 3 * k)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        k, m = self.rank, self.rows
        return [(), (3,), (k, k)] if m is None else [(), (3,), (m + 1, k + 1), (m, k - 1)]

    def bad_free_shapes(self) -> list[tuple[int, ...]]:
        k, m = self.rank, self.rows
        return self.bad_shapes() if m is None else [(), (3,), (m + 2, k + 1), (m, k)]

    def __repr__(self) -> str:
        rows = "" if self.rows is None else f", rows={self.rows}"
        return f"FixedRank(rank={self.rank}{rows})"
