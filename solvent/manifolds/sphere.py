"""The sphere {X : ||X||_F = 1}, one point being the last ``ndim`` dimensions."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.manifolds.base import Manifold

__all__ = ["Sphere", "normalize", "sphere_dissolve", "sphere_dissolve_with_constraint",
           "squared_modulus", "squared_norm"]


def _real_pairs(X: Tensor) -> Tensor:
    """A complex X as its (real, imag) pairs in a last dimension of 2, a view."""
    return torch.view_as_real(X.resolve_conj() if X.is_conj() else X)


def squared_modulus(X: Tensor) -> Tensor:
    """``|x|^2`` entrywise: real, and smooth at 0 for complex X too (unlike ``abs``)."""
    return _real_pairs(X).square().sum(-1) if X.is_complex() else X.square()


def squared_norm(X: Tensor, dims: tuple[int, ...], keepdim: bool = False) -> Tensor:
    """``sum |x|^2`` over ``dims``: real, and smooth at 0 for complex X too (unlike ``abs``).

    A complex X is read as its (real, imag) pairs, so the whole sum is one
    square and one reduction (its backward is as short as the real case's).
    """
    if not X.is_complex():
        return X.square().sum(dim=dims, keepdim=keepdim)
    neg = tuple(d - X.ndim if d >= 0 else d for d in dims)
    sq = _real_pairs(X).square().sum(dim=tuple(d - 1 for d in neg) + (-1,), keepdim=keepdim)
    return sq.squeeze(-1) if keepdim else sq


def sphere_dissolve(X: Tensor, dims: tuple[int, ...]) -> Tensor:
    """A(X) = 2X / (1 + ||X||^2), the norm taken over ``dims``."""
    return X * (2.0 / (1.0 + squared_norm(X, dims, keepdim=True)))


def sphere_dissolve_with_constraint(X: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """``(A(X), C(X))`` = ``(2X / (1 + ||X||^2), ||X||^2 - 1)``, one norm for both."""
    s = squared_norm(X, dims, keepdim=True)
    return X * (2.0 / (1.0 + s)), (s - 1.0).squeeze(dims)


def normalize(X: Tensor, dims: tuple[int, ...]) -> Tensor:
    """X / ||X|| over ``dims``; a zero block becomes the first unit vector (any unit point does)."""
    r = squared_norm(X, dims, keepdim=True).sqrt()
    first = torch.zeros_like(X)
    first[(...,) + (0,) * len(dims)] = 1
    return torch.where(r > 0, X / torch.where(r > 0, r, 1.0).to(X.dtype), first)


class Sphere(Manifold):
    """Unit Frobenius norm of the point: ``C(X) = ||X||^2 - 1``, ``A(X) = 2X / (1 + ||X||^2)``.

    On the sphere A(X) = X; its Jacobian there is ``D - X Re<X, D>``, the
    orthogonal projection onto the tangent space; and it pulls points back
    quadratically: ``C(A(X)) = -C(X)^2 / (2 + C(X))^2``. Real and complex.

    Args:
        ndim: how many trailing dimensions form one point (default 1, a vector;
            ``ndim=2`` makes a whole matrix one point, e.g. a weight matrix).

    Example:
        >>> import torch, solvent
        >>> S = solvent.manifold("sphere", ndim=2)
        >>> X = S.random(4, 3, dtype=torch.float64)
        >>> round(float(torch.linalg.matrix_norm(X)), 12)
        1.0
    """

    name = "sphere"

    def __init__(self, ndim: int = 1) -> None:
        if not isinstance(ndim, int) or isinstance(ndim, bool) or ndim < 1:
            raise ValueError(f"sphere needs ndim >= 1 (dimensions per point), got {ndim!r}")
        self.ndim = ndim

    def _dims(self) -> tuple[int, ...]:
        return tuple(range(-self.ndim, 0))

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = ||X||_F^2 - 1: one real number per point."""
        return squared_norm(X, self._dims()) - 1.0

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = 2X / (1 + ||X||_F^2)."""
        return sphere_dissolve(X, self._dims())

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        return sphere_dissolve_with_constraint(X, self._dims())

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """X / ||X||_F, the nearest point (a zero point maps to the first unit vector)."""
        return normalize(X, self._dims())

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Uniform on the sphere: a normalised Gaussian."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return normalize(G, self._dims())

    def example_shapes(self) -> list[tuple[int, ...]]:
        return (
            [(3,), (5,)]
            if self.ndim == 1
            else [(3, 2) + (1,) * (self.ndim - 2), (2, 2) + (2,) * (self.ndim - 2)]
        )

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(2,) * k for k in range(self.ndim)]

    def __repr__(self) -> str:
        return f"Sphere(ndim={self.ndim})"
