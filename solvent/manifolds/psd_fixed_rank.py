"""PSD matrices of fixed rank: ``{X = Y Y^H : Y in F^{n x k} of rank k}`` (F = R or C)."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.manifolds._factors import SquareFactorChart, psd_factor, rank_floor, top_eigh
from solvent.manifolds._linalg import hermitian_part

__all__ = ["PSDFixedRank", "psd_violation"]


def psd_violation(X: Tensor, k: int) -> Tensor:
    """``||X - P(X)||_F`` per batch element, P(X) the nearest PSD matrix of rank <= k.

    The anti-Hermitian part, the n - k smallest eigenvalues of the Hermitian
    part and the negative parts of the k largest: zero exactly on the closure
    of the set (PSD, rank <= k).

    Example:
        >>> float(psd_violation(torch.diag(torch.tensor([2.0, -1.0])), 1))
        1.0
    """
    H = hermitian_part(X)
    skew = torch.linalg.matrix_norm(X - H).square()
    w = torch.linalg.eigvalsh(H)
    dropped = w[..., : w.shape[-1] - k].square().sum(-1)
    negative = w[..., w.shape[-1] - k :].clamp(max=0).square().sum(-1)
    return (skew + dropped + negative).sqrt()


class PSDFixedRank(SquareFactorChart):
    """n x n symmetric (Hermitian) PSD matrices of rank exactly k, through ``X = Y Y^H``.

    * point: ``X`` (..., n, n), ``X = X^H``, PSD, rank k;
    * free variable: the factor ``Y`` (..., n, k): ``free_shape((n, n)) == (n, k)``,
      nk numbers instead of n^2;
    * chart: ``A(Y) = Y Y^H``, a submersion from full-rank Y onto the set (its
      fibres are the orbits ``Y Q``, Q orthogonal / unitary k x k);
    * lift: ``Y = Q_k diag(w_k)^{1/2}`` from the top k eigenpairs, so ``A(lift(X)) = X``;
    * project: the nearest PSD matrix of rank k (top k eigenpairs of the Hermitian
      part, eigenvalues clamped at a tiny positive floor so the rank stays k);
    * violation: ``||X - P(X)||_F`` with P the nearest PSD of rank <= k;
    * cost per forward: one ``n x k`` by ``k x n`` product, n^2 k multiply-adds.

    Real and complex. Dimension: nk - k(k-1)/2 real, 2nk - k^2 complex.

    Args:
        rank: k, with 1 <= k <= n (default 2).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("psd_fixed_rank", rank=2)
        >>> X = M.random(5, 5, dtype=torch.float64)
        >>> int(torch.linalg.matrix_rank(X)), M.free_shape((5, 5))
        (2, (5, 2))
        >>> Y = M.lift(X)
        >>> tuple(Y.shape), torch.allclose(Y @ Y.mT, X)
        ((5, 2), True)
    """

    name = "psd_fixed_rank"
    square_hint = "a PSD matrix is square"

    def _dissolve(self, Y: Tensor) -> Tensor:
        """A(Y) = Y Y^H."""
        return Y @ Y.mH

    def _lift(self, X: Tensor) -> Tensor:
        """Y = Q_k diag(w_k)^{1/2}: the top k eigenpairs of X (negative rounding clamped)."""
        return psd_factor(X, self.rank, floor=False)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The nearest PSD matrix of rank k (eigenvalues below a tiny floor raised to it)."""
        Y = psd_factor(X, self.rank, floor=True)
        return Y @ Y.mH

    def _violation(self, X: Tensor) -> Tensor:
        """``||X - P(X)||_F``, P the nearest PSD matrix of rank <= k."""
        return psd_violation(X, self.rank)

    def _check_point(self, X: Tensor) -> str | None:
        """Rank exactly k: the k-th largest eigenvalue above the rounding floor."""
        w, _ = top_eigh(X, self.rank)
        floor = rank_floor(w.abs().amax(-1), X.shape[-1], w.dtype)
        low = w[..., 0]
        if bool((low <= 0.1 * floor).any()):
            return (
                f"{self.name}: rank below {self.rank} (k-th eigenvalue {float(low.min()):.3g}); "
                "project() raises it to a point of rank k"
            )
        return None

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """``Y Y^H / k`` for a Gaussian factor Y: entries of order 1."""
        Y = torch.randn((*shape[:-1], self.rank), dtype=dtype, device=device, generator=generator)
        return (Y @ Y.mH) / self.rank

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """The real dimension of the set of n x n points: nk - k(k-1)/2 (2nk - k^2 complex)."""
        n, k = shape[-1], self.rank
        return 2 * n * k - k * k if complex else n * k - k * (k - 1) // 2
