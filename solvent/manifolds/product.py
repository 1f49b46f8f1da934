"""Product manifolds M1 x M2 x ...: a point is a tuple of points, one per factor."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.base import Manifold

__all__ = ["Product"]

Point = tuple[Tensor, ...]


class Product(Manifold):
    """``M1 x ... x Mk``: ``C(X) = [vec C1(X1), ...]``, ``A(X) = (A1(X1), ..., Ak(Xk))``.

    A point is a tuple of tensors, one per factor; all factors share the batch
    dimensions (the leading ones before each factor's point). The constraint is
    the flat concatenation of the factors' constraints, per batch element
    (complex parts as real pairs, so C is real), hence ``penalty = sum of the
    factors' penalties``; A acts factor by factor, so it inherits each factor's
    properties (exact on M, tangent Jacobian, quadratic pull-back).

    Args:
        manifolds: the factors, as registered names or Manifold instances.
            The default, ``("sphere", "stiefel")``, is only an example for the
            conformance test.

    Example:
        >>> import torch, solvent
        >>> P = solvent.manifold("product", manifolds=("sphere", "stiefel"))
        >>> x, Y = P.random((3,), (4, 2), dtype=torch.float64)
        >>> float(P.penalty((x, Y))) < 1e-20
        True
    """

    name = "product"
    ndim = 0  # points are tuples: each factor has its own ndim

    def __init__(self, manifolds: Sequence[str | Manifold] = ("sphere", "stiefel")) -> None:
        from solvent.plugins.manager import manifold

        if isinstance(manifolds, (str, Manifold)) or len(manifolds) == 0:
            raise ValueError(f"product needs a non-empty sequence of manifolds, got {manifolds!r}")
        self.manifolds = tuple(manifold(M) for M in manifolds)
        self.supports_complex = all(M.supports_complex for M in self.manifolds)

    # ------------------------------------------------------------------ checks
    def _batch(self, X: Point) -> tuple[int, ...]:
        M, x = self.manifolds[0], X[0]
        return tuple(x.shape[: x.ndim - M.ndim])

    def check_shape(self, shape) -> None:
        """Needs one shape per factor, each valid for its factor."""
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != len(self.manifolds)
            or not all(isinstance(s, (tuple, list, torch.Size)) for s in shape)
        ):
            raise ManifoldShapeError(
                self.name,
                shape,
                f"one shape per factor ({len(self.manifolds)} shapes)",
                "pass a tuple of points, e.g. (x, Y)",
            )
        for M, s in zip(self.manifolds, shape):
            M.check_shape(tuple(s))

    def validate(self, X: Point) -> None:
        """A tuple of tensors, one per factor, each valid for its factor, with one batch shape."""
        if not isinstance(X, (tuple, list)):
            shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
            raise ManifoldShapeError(
                self.name,
                shape,
                f"a tuple of {len(self.manifolds)} points, one per factor, not one tensor",
            )
        self.check_shape([x.shape if isinstance(x, Tensor) else () for x in X])
        for M, x in zip(self.manifolds, X):
            M.validate(x)
        batches = {tuple(x.shape[: x.ndim - M.ndim]) for M, x in zip(self.manifolds, X)}
        if len(batches) > 1:
            raise ManifoldShapeError(
                self.name,
                [tuple(x.shape) for x in X],
                f"the same batch dimensions in every factor, got {batches}",
            )

    def default_atol(self, X: Point) -> float:
        n = sum(math.prod(x.shape[x.ndim - M.ndim :]) for M, x in zip(self.manifolds, X))
        return 100.0 * max(n, 1) * torch.finfo(X[0].dtype).eps

    # ------------------------------------------------------------------ maths
    def _constraint(self, X: Point) -> Tensor:
        """The factors' constraints, flattened and concatenated per batch element (real)."""
        batch = self._batch(X)
        parts = []
        for M, x in zip(self.manifolds, X):
            C = M._constraint(x)
            parts.append(
                (torch.stack((C.real, C.imag), -1) if C.is_complex() else C).reshape(*batch, -1)
            )
        return torch.cat(parts, dim=-1)

    def _dissolve(self, X: Point) -> Point:
        """A(X) = (A1(X1), ..., Ak(Xk))."""
        return tuple(M._dissolve(x) for M, x in zip(self.manifolds, X))

    def _penalty(self, X: Point) -> Tensor:
        """The sum of the factors' penalties."""
        return sum(M._penalty(x) for M, x in zip(self.manifolds, X))

    def _violation(self, X: Point) -> Tensor:
        """||C(X)|| per batch element, over all factors together."""
        return torch.linalg.vector_norm(self._constraint(X), dim=-1)

    def _project(self, X: Point, *, atol=None, max_iter=100) -> Point:
        """Each factor projected by its own manifold (each in its own working dtype)."""
        return tuple(M.project(x, max_iter=max_iter) for M, x in zip(self.manifolds, X))

    def _random(self, shapes, *, dtype, device, generator) -> Point:
        """One random point per factor: ``random(shape1, shape2, ...)``."""
        return tuple(
            M.random(*s, dtype=dtype, device=device, generator=generator)
            for M, s in zip(self.manifolds, shapes)
        )

    # ------------------------------------------------------------------ conformance
    def example_shapes(self) -> list[tuple[tuple[int, ...], ...]]:
        per_factor = [M.example_shapes()[:2] for M in self.manifolds]
        k = min(len(s) for s in per_factor)
        return [tuple(tuple(s[i]) for s in per_factor) for i in range(k)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(3,), (2, 2)]  # a single tensor is not a tuple of points

    def __repr__(self) -> str:
        return f"Product({', '.join(repr(M) for M in self.manifolds)})"

    def __hash__(self) -> int:
        return hash((type(self), self.manifolds))
