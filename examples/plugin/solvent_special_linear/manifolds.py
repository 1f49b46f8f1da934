"""The plugin's manifolds: one given by its constraint alone, one with a closed-form map, and one
of the chart kind (a smooth map onto an open set)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from solvent import ChartManifold, Manifold
from solvent.exceptions import ManifoldShapeError, ProjectionError
from solvent.manifolds.stiefel import qr_unique

__all__ = ["ScaledSphere", "Simplex", "SpecialLinear"]


class SpecialLinear(Manifold):
    """The special linear group SL(n) = {X in K^{n x n} : det X = 1}, K = R or C.

    Only ``C(X) = det X - 1`` is written here: the dissolving map is solvent's
    generic Jacobian-based one, and ``project`` its default (repeated dissolve
    steps), which converges from points near SL(n). ``_random`` is the one extra:
    projecting a Gaussian matrix fails when its determinant is negative, and a
    Gaussian matrix rescaled to det 1 is often badly conditioned, so ``random``
    builds a well-conditioned point directly.

    Example:
        >>> import torch, solvent
        >>> SL = solvent.manifold("special_linear")
        >>> X = SL.random(4, 4, dtype=torch.float64)
        >>> bool(SL.violation(X) < 1e-12)
        True
    """

    name = "special_linear"
    ndim = 2

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = det X - 1, one number per point."""
        return torch.linalg.det(X) - 1

    def check_shape(self, shape) -> None:
        """Needs square matrices, after any batch dimensions."""
        super().check_shape(shape)
        if shape[-2] != shape[-1]:
            raise ManifoldShapeError(
                self.name, shape, f"a square matrix, got {shape[-2]}x{shape[-1]}",
                "the determinant is defined for square matrices only",
            )

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """A random point of condition number at most e: ``U diag(s) V`` with det 1.

        U and V are Haar-distributed (QR of Gaussian matrices, sign fixed), the
        log singular values are uniform in [-1/2, 1/2] less their mean, and the
        first row is divided by det(U V) (a unit number) so that det X = 1.
        """
        real = torch.empty(0, dtype=dtype).real.dtype

        def haar() -> Tensor:
            G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
            return qr_unique(G)

        log_s = torch.rand(shape[:-1], dtype=real, device=device, generator=generator) - 0.5
        s = torch.exp(log_s - log_s.mean(-1, keepdim=True)).to(dtype)
        X = (haar() * s.unsqueeze(-2)) @ haar()
        d = torch.linalg.det(X)
        return torch.cat([X[..., :1, :] / d[..., None, None], X[..., 1:, :]], -2)

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(2, 2), (3, 3)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]


class ScaledSphere(Manifold):
    """The sphere of radius r: ``C(x) = |x|^2 - r^2``, ``A(x) = 2 r^2 x / (r^2 + |x|^2)``.

    On the sphere A(x) = x, and DA(x)[d] = d - x (x^H d) / r^2 there, the
    projection onto the tangent space; off it ``|A(x)|^2 - r^2 =
    -r^2 (|x|^2 - r^2)^2 / (r^2 + |x|^2)^2``, a quadratic pull-back.

    Args:
        radius: r > 0.

    Example:
        >>> import torch, solvent
        >>> S = solvent.manifold("scaled_sphere", radius=2.0)
        >>> x = S.random(5, dtype=torch.float64)
        >>> round(float(torch.linalg.vector_norm(x)), 12)
        2.0
    """

    name = "scaled_sphere"
    ndim = 1

    def __init__(self, radius: float = 1.0) -> None:
        radius = float(radius)
        if not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"{self.name} needs a finite radius > 0, got {radius}")
        self.radius = radius

    def _constraint(self, X: Tensor) -> Tensor:
        """C(x) = |x|^2 - r^2, one real number per point."""
        return _sqnorm(X) - self.radius**2

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(x) = 2 r^2 x / (r^2 + |x|^2)."""
        r2 = self.radius**2
        return X * (2 * r2 / (r2 + _sqnorm(X))).unsqueeze(-1)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """r x / |x|, the nearest point of the sphere."""
        norm = _sqnorm(X).sqrt().unsqueeze(-1)
        if bool((norm == 0).any()):
            raise ProjectionError(f"{self.name}.project got a zero vector, which has no direction")
        return X * (self.radius / norm)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """A uniformly distributed point: a normalised Gaussian vector times r."""
        X = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self._project(X)


def _sqnorm(X: Tensor) -> Tensor:
    """|x|^2 over the last dimension, real; smooth at 0 (unlike abs() of a complex number)."""
    if X.is_complex():
        X = torch.view_as_real(X).flatten(-2)
    return X.square().sum(-1)


class Simplex(ChartManifold):
    """The open probability simplex {x : x_i > 0, sum x_i = 1}, a chart manifold: x = softmax(z).

    The map lands in the simplex for every z, so there is no constraint and no
    penalty; it is a submersion onto the (n - 1)-dimensional simplex (adding a
    constant to z changes nothing), and ``lift(x) = log x`` inverts it. Real only.

    Example:
        >>> import torch, solvent
        >>> S = solvent.manifold("simplex")
        >>> x = S.dissolve(torch.zeros(4, dtype=torch.float64))
        >>> x.tolist(), float(S.penalty(torch.zeros(4)))
        ([0.25, 0.25, 0.25, 0.25], 0.0)
    """

    name = "simplex"
    ndim = 1
    supports_complex = False

    def _dissolve(self, Z: Tensor) -> Tensor:
        """x = softmax(z) = exp(z) / sum exp(z)."""
        return torch.softmax(Z, dim=-1)

    def _lift(self, X: Tensor) -> Tensor:
        """z = log x: softmax(log x) = x for x in the simplex."""
        return torch.log(X)

    def _violation(self, X: Tensor) -> Tensor:
        """|sum x - 1| plus the size of the non-positive entries, per point."""
        return (X.sum(-1) - 1).abs() + torch.linalg.vector_norm(torch.relu(-X), dim=-1)

    def _check_point(self, X: Tensor) -> str | None:
        return None if bool((X > 0).all()) else f"{self.name}: an entry is not > 0"

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Clamp to a small positive floor, then normalise the sum."""
        Y = X.clamp_min(torch.finfo(X.dtype).eps)
        return Y / Y.sum(-1, keepdim=True)

    def _dimension(self, shape, complex: bool) -> int:
        return shape[-1] - 1
