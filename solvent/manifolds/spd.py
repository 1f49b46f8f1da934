"""Symmetric (Hermitian) positive definite matrices, reached through a Cholesky chart."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds._linalg import hermitian_part
from solvent.manifolds.base import ChartManifold
from solvent.manifolds.positive import inverse_softplus, positive_floor, softplus

__all__ = ["SPD", "check_square", "cholesky_chart"]


def check_square(name: str, shape: Sequence[int]) -> None:
    """Raise ``ManifoldShapeError`` unless the last two dimensions are equal.

    Example:
        >>> check_square("spd", (2, 3, 3))
    """
    if shape[-1] != shape[-2]:
        raise ManifoldShapeError(
            name, shape, "a square matrix per point (n x n)",
            "constrain a square weight, or take its square block",
        )


def cholesky_chart(Z: Tensor) -> Tensor:
    """L = tril(Z, -1) + diag(softplus(Re diag Z)): lower triangular, positive real diagonal.

    Example:
        >>> L = cholesky_chart(torch.randn(3, 3))
        >>> bool((L.diagonal() > 0).all()), bool((L.triu(1) == 0).all())
        (True, True)
    """
    d = Z.diagonal(dim1=-2, dim2=-1)
    d = softplus(d.real if d.is_complex() else d)
    return Z.tril(-1) + torch.diag_embed(d.to(Z.dtype))


class SPD(ChartManifold):
    """Symmetric (Hermitian) positive definite n x n matrices, ``X = L L^H``, ``L = chart(Z)``.

    The chart takes the strict lower triangle of the free n x n matrix Z as it
    is and maps its diagonal through softplus: ``L = tril(Z, -1) +
    diag(softplus(diag Z))``. Every SPD matrix has exactly one Cholesky factor
    with a positive diagonal, so Z -> X is a diffeomorphism from the lower
    triangle onto the whole (open) set; Z's strict upper triangle is ignored
    (its gradient is zero). ``lift(X)`` is the Cholesky factor with its
    diagonal through the inverse softplus. The alternatives cost more per
    forward: an eigendecomposition-based chart ``Q diag(f(w)) Q^H`` needs an
    orthogonal Q (a matrix exponential) and a matrix exponential of a
    symmetric matrix needs ``eigh``; this one is one triangular product,
    ``n^3/3`` multiply-adds. Real and complex (Hermitian, ``L`` with a positive
    real diagonal; the imaginary part of Z's diagonal is ignored).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("spd")
        >>> X = M.dissolve(torch.randn(4, 4, dtype=torch.float64))
        >>> bool(torch.linalg.eigvalsh(X).min() > 0), torch.allclose(M.dissolve(M.lift(X)), X)
        (True, True)
    """

    name = "spd"
    ndim = 2

    def check_shape(self, shape: Sequence[int]) -> None:
        super().check_shape(shape)
        check_square(self.name, tuple(shape))

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(Z) = L L^H with L = tril(Z, -1) + diag(softplus(diag Z))."""
        L = cholesky_chart(Z)
        return L @ L.mH

    def _lift(self, X: Tensor) -> Tensor:
        """Z = tril(L, -1) + diag(softplus^-1(diag L)), L the Cholesky factor of X."""
        L = torch.linalg.cholesky(hermitian_part(X))
        d = inverse_softplus(L.diagonal(dim1=-2, dim2=-1).real)
        return L.tril(-1) + torch.diag_embed(d.to(L.dtype))

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The Hermitian part with eigenvalues below ``sqrt(eps) * max |w|`` raised to it."""
        w, Q = torch.linalg.eigh(hermitian_part(X))
        scale = w.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
        w = w.clamp_min(positive_floor(w.dtype) * scale)
        return hermitian_part((Q * w.to(Q.dtype).unsqueeze(-2)) @ Q.mH)

    def _violation(self, X: Tensor) -> Tensor:
        """||X - X^H||_F + ||min(w, 0)||, w the eigenvalues of the Hermitian part."""
        skew = torch.linalg.matrix_norm(X - X.mH)
        w = torch.linalg.eigvalsh(hermitian_part(X))
        return skew + torch.linalg.vector_norm(w.clamp_max(0.0), dim=-1)

    def _check_point(self, X: Tensor) -> str | None:
        """The open set needs the smallest eigenvalue strictly positive."""
        w = torch.linalg.eigvalsh(hermitian_part(X)).amin(dim=-1)
        if bool((w > 0).all()):
            return None
        return f"spd: smallest eigenvalue {float(w.min()):.3g} is not > 0"

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """``G G^H / n + I`` for a Gaussian G: eigenvalues in about [1, 5]."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        n = shape[-1]
        eye = torch.eye(n, dtype=dtype, device=device)
        return hermitian_part(G @ G.mH / n + eye)

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(1, 1), (3, 3), (4, 4)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """n(n+1)/2 for real symmetric matrices, n^2 real coordinates for Hermitian ones."""
        n = shape[-1]
        return n * n if complex else n * (n + 1) // 2
