"""The Poincare ball {x : c ||x||^2 < 1}, reached through the radial squashing tanh."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from solvent.manifolds.base import ChartManifold
from solvent.manifolds.sphere import squared_norm

__all__ = ["PoincareBall", "ball_margin", "tanhc"]


def tanhc(r: Tensor) -> Tensor:
    """tanh(r) / r, smooth and even, 1 at r = 0 (a Taylor series below r = 1e-3).

    Example:
        >>> tanhc(torch.tensor([0.0, 1.0], dtype=torch.float64))
        tensor([1.0000, 0.7616], dtype=torch.float64)
    """
    small = r.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(r), r)
    r2 = r * r
    return torch.where(small, 1.0 - r2 / 3.0 + 2.0 * r2 * r2 / 15.0, torch.tanh(safe) / safe)


def ball_margin(dtype: torch.dtype) -> float:
    """How far inside the boundary, relative to the radius, the map and projection stay.

    ``32 eps``: tanh(r) rounds to 1 from r = 19 (float64) or 9 (float32) on, and
    a point on the sphere is not in the open ball. Past ``1 - 32 eps`` the
    radial slope of tanh, ``1 - tanh^2 < 64 eps``, is below rounding anyway.

    Example:
        >>> ball_margin(torch.float64) < 1e-14
        True
    """
    return 32.0 * torch.finfo(dtype).eps


def _artanhc(r: Tensor) -> Tensor:
    """artanh(r) / r for 0 <= r < 1, 1 at r = 0."""
    small = r < 1e-3
    safe = torch.where(small, torch.full_like(r, 0.5), r)
    r2 = r * r
    return torch.where(small, 1.0 + r2 / 3.0 + r2 * r2 / 5.0, torch.atanh(safe) / safe)


class PoincareBall(ChartManifold):
    """The open ball of radius ``1/sqrt(c)``: ``x = tanh(sqrt(c) |z|) z / (sqrt(c) |z|)``.

    The map squashes each free vector radially: a diffeomorphism of R^n onto
    the ball (the exponential map of the Poincare ball at its centre, so
    Euclidean lengths along a ray are hyperbolic distances from 0). Its
    inverse, ``lift``, is ``artanh(sqrt(c) |x|) x / (sqrt(c) |x|)``: it grows
    like ``log(1 / (1 - sqrt(c)|x|))`` near the boundary, where an algebraic
    squashing ``z / sqrt(1 + c|z|^2)`` grows like ``(1 - sqrt(c)|x|)^(-1/2)``:
    coordinates stay of moderate size for points near the boundary.
    In floating point tanh reaches 1, so the map stops at radius
    ``(1 - 32 eps) / sqrt(c)`` (:func:`ball_margin`), and ``project`` scales
    points beyond it back to it.
    Cost per forward: one norm, one tanh and one scaling per vector. Real and
    complex (the open ball of C^n, with the norm of C^n).

    Args:
        c: the curvature magnitude (> 0); the ball has radius ``1 / sqrt(c)``.

    Example:
        >>> import torch, solvent
        >>> B = solvent.manifold("poincare_ball", c=4.0)
        >>> X = B.dissolve(10 * torch.randn(5, 3, dtype=torch.float64))
        >>> bool((X.norm(dim=-1) < 0.5).all()), torch.allclose(B.dissolve(B.lift(X)), X)
        (True, True)
    """

    name = "poincare_ball"
    ndim = 1

    def __init__(self, c: float = 1.0) -> None:
        ok = isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
        if not ok or c <= 0:
            raise ValueError(
                f"poincare_ball needs a curvature c > 0 (the ball has radius 1/sqrt(c)), got {c!r}"
            )
        self.c = float(c)

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(z) = tanh(sqrt(c) |z|) z / (sqrt(c) |z|)."""
        r = math.sqrt(self.c) * torch.linalg.vector_norm(Z, dim=-1, keepdim=True)
        inside = (1.0 - ball_margin(Z.dtype)) / r.clamp_min(1.0)  # Note: see ball_margin
        return Z * torch.minimum(tanhc(r), inside)

    def _lift(self, X: Tensor) -> Tensor:
        """z = artanh(sqrt(c) |x|) x / (sqrt(c) |x|)."""
        r = math.sqrt(self.c) * torch.linalg.vector_norm(X, dim=-1, keepdim=True)
        return X * _artanhc(r)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Points with ``sqrt(c)|x| > 1 - 32 eps`` scaled back to that radius (the map's own)."""
        limit = (1.0 - ball_margin(X.dtype)) / math.sqrt(self.c)
        norm = torch.linalg.vector_norm(X, dim=-1, keepdim=True)
        return X * (limit / norm.clamp_min(limit)).clamp_max(1.0)

    def _violation(self, X: Tensor) -> Tensor:
        """max(0, |x| - 1/sqrt(c)): the distance from outside to the ball."""
        norm = torch.linalg.vector_norm(X, dim=-1)
        return (norm - 1.0 / math.sqrt(self.c)).clamp_min(0.0)

    def _check_point(self, X: Tensor) -> str | None:
        """The boundary sphere itself is not in the open ball."""
        worst = float((self.c * squared_norm(X, (-1,))).max()) if X.numel() else 0.0
        return None if worst < 1.0 else f"poincare_ball: c |x|^2 = {worst:.17g} is not < 1"

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """The image of a Gaussian scaled by 1/sqrt(n).

        Its hyperbolic radius from the centre is about 1.
        """
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self._dissolve(G / math.sqrt(shape[-1]))

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """n: the ball is open in R^n (2n real coordinates in C^n)."""
        return 2 * shape[-1] if complex else shape[-1]

    def __repr__(self) -> str:
        return f"PoincareBall(c={self.c})"
