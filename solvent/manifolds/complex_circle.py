"""Vectors whose entries have modulus one (phases): the circle map entry by entry."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from solvent.manifolds.base import Manifold
from solvent.manifolds.sphere import squared_modulus as _sq

__all__ = ["ComplexCircle"]


class ComplexCircle(Manifold):
    """``|z_i| = 1`` for each entry: ``C(z) = |z|^2 - 1``, ``A(z) = 2z / (1 + |z|^2)`` entrywise.

    Each entry is a point of the unit circle, so A is the sphere's map in one
    complex dimension, applied entry by entry: ``A(z) = z`` on M, DA there is
    the projection onto the tangent line ``i z R``, and ``C(A(z)) = -C^2 /
    (2 + C)^2`` (quadratic pull-back). Complex points are the useful case
    (phase synchronisation, unit-modulus beamforming); a real point is a
    vector of signs ``+-1``, a manifold of dimension 0 (its tangent space is
    {0}), which is exact but leaves nothing to optimise by itself. Cost per
    forward: a few entrywise operations (n).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("complex_circle")
        >>> z = M.random(4, dtype=torch.complex128)
        >>> torch.allclose(z.abs(), torch.ones(4, dtype=torch.float64))
        True
    """

    name = "complex_circle"
    ndim = 1

    def _constraint(self, Z: Tensor) -> Tensor:
        """C(z) = |z_i|^2 - 1, one real number per entry."""
        return _sq(Z) - 1.0

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(z) = 2 z / (1 + |z|^2) entrywise."""
        return Z * (2.0 / (1.0 + _sq(Z)))

    def _dissolve_with_constraint(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        s = _sq(Z)
        return Z * (2.0 / (1.0 + s)), s - 1.0

    def _project(self, Z: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """z / |z| entrywise, the nearest phase; a zero entry becomes 1 (every phase is nearest)."""
        r = _sq(Z).sqrt()
        safe = torch.where(r > 0, r, 1.0).to(Z.dtype)
        return torch.where(r > 0, Z / safe, torch.ones_like(Z))

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Uniform phases (complex), or uniform signs (real)."""
        real = torch.empty(0, dtype=dtype).real.dtype
        u = torch.rand(shape, dtype=real, device=device, generator=generator)
        if dtype.is_complex:
            return torch.polar(torch.ones_like(u), 2 * math.pi * u).to(dtype)
        return torch.where(u < 0.5, -1.0, 1.0).to(dtype)

    def _dimension(self, shape, complex: bool) -> int:
        return shape[-1] if complex else 0

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(4,), (1,)]
