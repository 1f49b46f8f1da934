"""The elliptope of rank k: correlation matrices ``{X PSD, diag X = 1, rank X <= k}``."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.manifolds._factors import SquareFactorChart, psd_factor
from solvent.manifolds.psd_fixed_rank import psd_violation
from solvent.manifolds.sphere import normalize

__all__ = ["Elliptope"]


class Elliptope(SquareFactorChart):
    """n x n correlation matrices of rank <= k, through ``X = Y Y^H`` with unit-norm rows of Y.

    * point: ``X`` (..., n, n), ``X = X^H``, PSD, ``diag X = 1``, rank <= k;
    * free variable: ``Y`` (..., n, k), any rows but zero (``free_shape((n, n)) == (n, k)``);
    * chart: ``A(Y) = N(Y) N(Y)^H`` with ``N(Y)_i = y_i / ||y_i||`` (each row normalised):
      the Burer-Monteiro factorisation, a submersion onto the points of rank exactly k;
    * lift: ``Y = Q_k diag(w_k)^{1/2}`` from the top k eigenpairs (its rows already have
      unit norm, since ``diag X = 1``), so ``A(lift(X)) = X``;
    * project: the nearest PSD matrix of rank <= k as ``Y Y^H``, then the rows of Y
      normalised (a point of the set near X, not always the nearest one);
    * violation: ``(||X - P(X)||_F^2 + ||diag X - 1||^2)^{1/2}``, P the nearest PSD of
      rank <= k;
    * cost per forward: n k for the norms and n^2 k multiply-adds for the product.

    Real and complex. Dimension at rank k: n(k - 1) - k(k - 1)/2 real,
    n(2k - 1) - k^2 complex.

    Args:
        rank: k, with 1 <= k <= n (default 2).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("elliptope", rank=2)
        >>> X = M.random(5, 5, dtype=torch.float64)
        >>> torch.allclose(X.diagonal(), torch.ones(5, dtype=torch.float64))
        True
        >>> Y = M.lift(X)
        >>> tuple(Y.shape), torch.allclose(Y @ Y.mT, X)
        ((5, 2), True)
    """

    name = "elliptope"
    square_hint = "a correlation matrix is square"

    def _dissolve(self, Y: Tensor) -> Tensor:
        """A(Y) = N(Y) N(Y)^H, N normalising each row."""
        W = Y * torch.linalg.vector_norm(Y, dim=-1, keepdim=True).reciprocal().to(Y.dtype)
        return W @ W.mH

    def _lift(self, X: Tensor) -> Tensor:
        """The top k eigenpairs' factor, its rows normalised (a no-op on the set up to rounding)."""
        return normalize(psd_factor(X, self.rank, floor=False), (-1,))

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The rank-k PSD factor of X with its rows normalised (a zero row becomes e_1)."""
        W = normalize(psd_factor(X, self.rank, floor=False), (-1,))
        return W @ W.mH

    def _violation(self, X: Tensor) -> Tensor:
        """Distance to PSD rank <= k, and the unit diagonal, in one norm."""
        diag = X.diagonal(dim1=-2, dim2=-1)
        off = torch.linalg.vector_norm(diag - 1, dim=-1)
        return (psd_violation(X, self.rank).square() + off.square()).sqrt()

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """``N(Y) N(Y)^H`` for a Gaussian Y: each row uniform on its sphere."""
        Y = torch.randn((*shape[:-1], self.rank), dtype=dtype, device=device, generator=generator)
        return self._dissolve(Y)

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """The real dimension at rank k: n(k - 1) - k(k - 1)/2 (n(2k - 1) - k^2 complex)."""
        n, k = shape[-1], self.rank
        return n * (2 * k - 1) - k * k if complex else n * (k - 1) - k * (k - 1) // 2
