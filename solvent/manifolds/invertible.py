"""GL+(n): real n x n matrices with a positive determinant, reached through X = exp(K) R."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent.manifolds._linalg import eye_like, wide
from solvent.manifolds.base import ChartManifold
from solvent.manifolds.positive import inverse_softplus, positive_floor, softplus
from solvent.manifolds.spd import check_square

__all__ = ["Invertible", "log_rotation"]


def _split(Z: Tensor) -> tuple[Tensor, Tensor]:
    """K = skew from Z's strict lower triangle; R = Z's strict upper triangle + softplus diag."""
    lower = Z.tril(-1)
    K = lower - lower.mT
    R = Z.triu(1) + torch.diag_embed(softplus(Z.diagonal(dim1=-2, dim2=-1)))
    return K, R


def log_rotation(Q: Tensor) -> Tensor:
    """A real skew K with ``matrix_exp(K) = Q`` for a rotation Q (orthogonal, det +1).

    On an eigenspace of ``S = (Q + Q^T)/2`` with eigenvalue ``cos t``, the skew
    part ``W = (Q - Q^T)/2`` equals ``sin t`` times a complex structure, so
    ``K = (t / sin t) W`` there: ``K = U diag(t / sin t) U^T W``. Where
    ``sin t`` (read off W: ``|sin t| = ||W u||`` for an eigenvector u, exact to
    rounding where ``cos t`` is not) is below ``sqrt(eps)`` and ``cos t < 0``
    (a rotation by about pi, W carries no usable orientation), eigh lists those
    directions first, in pairs spanning the rotation planes; each pair (u, v)
    adds ``t (v u^T - u v^T)`` with ``t = pi - asin|b|`` and the orientation of
    ``b = v^T W u``.
    ``exp(K)`` reproduces Q to rounding, except where two planes both turn by
    nearly pi: there the logarithm is ill-conditioned (condition number about
    ``pi / (pi - t)``) and eigh mixes the planes; with one plane 1e-7 and
    another 3e-3 short of a half turn the residual is 4e-6.

    Example:
        >>> K = torch.tensor([[0.0, -3.0], [3.0, 0.0]], dtype=torch.float64)
        >>> Q = torch.linalg.matrix_exp(K)
        >>> bool(torch.allclose(torch.linalg.matrix_exp(log_rotation(Q)), Q, atol=1e-12))
        True
    """
    S, W = 0.5 * (Q + Q.mT), 0.5 * (Q - Q.mT)
    c, U = torch.linalg.eigh(S)
    s = torch.linalg.vector_norm(W @ U, dim=-2)  # |sin t| from W: exact near t = pi
    t = torch.atan2(s, c)
    tol = torch.finfo(Q.dtype).eps ** 0.5
    near_pi = (s < tol) & (c < 0)
    f = torch.where(s >= tol, t / s.clamp_min(tol), (~near_pi).to(Q.dtype))
    K = (U * f.unsqueeze(-2)) @ U.mT @ W
    K = 0.5 * (K - K.mT)
    return K + _half_turns(U, W, near_pi)


def _half_turns(U: Tensor, W: Tensor, near_pi: Tensor) -> Tensor:
    """The planes rotated by about pi: pairs of U's first columns, see :func:`log_rotation`."""
    n = U.shape[-1]
    count = near_pi.sum(dim=-1, keepdim=True)  # eigh sorts ascending: these come first
    first = torch.arange(0, n - 1, 2, device=U.device)
    active = (first + 1 < count).to(U.dtype)  # (..., n // 2): pair (2i, 2i + 1) is a half turn
    u, v = U[..., :, first], U[..., :, first + 1]
    b = ((W @ u) * v).sum(dim=-2)  # v^T W u, the sine of the angle with its orientation
    sign = torch.where(b < 0, -1.0, 1.0).to(U.dtype)
    angle = sign * (math.pi - torch.asin(b.abs().clamp_max(1.0))) * active
    P = (v * angle.unsqueeze(-2)) @ u.mT
    return P - P.mT


class Invertible(ChartManifold):
    """GL+(n), real n x n matrices with ``det X > 0``: ``X = exp(K) R``.

    Z is split by triangles: its strict lower triangle gives the skew matrix
    ``K = tril(Z, -1) - tril(Z, -1)^T`` and its upper triangle the factor
    ``R = triu(Z, 1) + diag(softplus(diag Z))`` (upper triangular, positive
    diagonal). Every X in GL+ has a QR factorisation with such an R and
    ``Q = X R^-1`` in SO(n), and the exponential of skew matrices is onto
    SO(n), so the map reaches all of GL+ (a plain ``exp(A)`` of a general
    matrix does not: it misses e.g. ``diag(-1, -2)``). ``lift`` is that QR
    factorisation and a logarithm of Q (:func:`log_rotation`). The
    exponential's Jacobian is singular where K has two eigenvalues ``2 pi i``
    apart (a rotation by pi is one such point), a null set. Cost per forward:
    one ``matrix_exp`` of an n x n skew matrix and one matrix product. Real
    dtypes only (complex GL(n) is connected: the sign of det means nothing).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("invertible")
        >>> X = M.dissolve(torch.randn(4, 4, dtype=torch.float64))
        >>> bool(torch.linalg.det(X) > 0), torch.allclose(M.dissolve(M.lift(X)), X)
        (True, True)
    """

    name = "invertible"
    ndim = 2
    supports_complex = False

    def check_shape(self, shape: Sequence[int]) -> None:
        super().check_shape(shape)
        check_square(self.name, tuple(shape))

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(Z) = matrix_exp(K) R, with K and R the triangles of Z."""
        K, R = _split(Z)
        return torch.linalg.matrix_exp(K) @ R

    def _lift(self, X: Tensor) -> Tensor:
        """QR with a positive diagonal, then Z = tril(log Q, -1) + softplus^-1 diag + triu(R, 1)."""
        Xw = X.to(wide(X.dtype))
        Q, R = torch.linalg.qr(Xw)
        sign = torch.where(R.diagonal(dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(R.dtype)
        Q, R = Q * sign.unsqueeze(-2), R * sign.unsqueeze(-1)
        K = log_rotation(Q)
        d = inverse_softplus(R.diagonal(dim1=-2, dim2=-1))
        return (K.tril(-1) + R.triu(1) + torch.diag_embed(d)).to(X.dtype)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Singular values raised to at least ``floor = sqrt(eps) * sigma_max``; where
        det X <= 0 the smallest becomes ``-floor`` (the nearest point of GL+, up to the floor)."""
        U, s, Vh = torch.linalg.svd(X)
        floor = positive_floor(X.dtype) * s[..., :1].clamp_min(1.0)
        s = s.clamp_min(floor)
        flip = (torch.linalg.det(U) * torch.linalg.det(Vh) < 0).unsqueeze(-1)
        last = torch.where(flip, -floor, s[..., -1:])
        return (U * torch.cat([s[..., :-1], last], dim=-1).unsqueeze(-2)) @ Vh

    def _violation(self, X: Tensor) -> Tensor:
        """0 where det X > 0, else the smallest singular value (the distance to GL+'s closure)."""
        sign, _ = torch.linalg.slogdet(X)
        smin = torch.linalg.svdvals(X)[..., -1]
        return torch.where(sign > 0, torch.zeros_like(smin), smin)

    def _check_point(self, X: Tensor) -> str | None:
        """det X must be strictly positive."""
        sign, _ = torch.linalg.slogdet(X)
        if bool((sign > 0).all()):
            return None
        return f"invertible: {int((sign <= 0).sum())} matrices have det <= 0"

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """A random rotation times ``I + triu(G, 1) / sqrt(n)``: condition numbers of a few."""
        G = torch.randn((2, *shape), dtype=dtype, device=device, generator=generator)
        n = shape[-1]
        K = G[0].tril(-1) - G[0].tril(-1).mT
        R = eye_like(G[1]) + G[1].triu(1) / math.sqrt(n)
        return torch.linalg.matrix_exp(K) @ R

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(1, 1), (3, 3), (4, 4)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """n^2: GL+ is open in the n x n matrices."""
        return shape[-1] ** 2
