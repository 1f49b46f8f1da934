"""Product manifolds M1 x M2 x ...: a point is a tuple of points, one per factor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.base import Manifold

__all__ = ["Product"]

Point = tuple[Tensor, ...]


class Product(Manifold):
    """``M1 x ... x Mk``: ``C(Z) = [vec C1(Z1), ...]``, ``A(Z) = (A1(Z1), ..., Ak(Zk))``.

    A point is a tuple of tensors, one per factor, and so is a free variable;
    all factors share the batch dimensions (the leading ones before each
    factor's point). Factors may have any point dimension (a vector beside a
    matrix) and either kind (Note [two kinds of manifold]): every method acts
    factor by factor (``free_shape``, ``lift``, ``dissolve``, ``project``), so
    a chart factor keeps its own free coordinates. The constraint is the flat
    concatenation of the factors' constraints per batch element (complex parts
    as real pairs, so C is real; a chart factor adds nothing), hence
    ``penalty = sum of the factors' penalties``. The product's kind is
    ``"chart"`` when every factor is a chart, else ``"equality"`` (a penalty
    is then at work).

    Args:
        manifolds: the factors, as Manifold instances. (The registry's
            ``solvent.manifold("product", manifolds=...)`` also takes names and
            resolves them before calling this.)

    Example:
        >>> import torch, solvent
        >>> P = solvent.manifold("product", manifolds=("sphere", "stiefel"))
        >>> x, Y = P.random((3,), (4, 2), dtype=torch.float64)
        >>> float(P.penalty((x, Y))) < 1e-20
        True
    """

    name = "product"
    ndim = 0  # points are tuples: each factor has its own ndim

    def __init__(self, manifolds: Sequence[Manifold]) -> None:
        if isinstance(manifolds, (str, Manifold)) or len(manifolds) == 0:
            raise ValueError(f"product needs a non-empty sequence of manifolds, got {manifolds!r}")
        bad = [M for M in manifolds if not isinstance(M, Manifold)]
        if bad:
            raise TypeError(
                f"product takes Manifold instances, got {bad[0]!r}; build factors by name with "
                "solvent.manifold(name) or solvent.manifold('product', manifolds=(names...))"
            )
        self.manifolds = tuple(manifolds)
        self.supports_complex = all(M.supports_complex for M in self.manifolds)
        self.supports_real = all(M.supports_real for M in self.manifolds)
        self.kind = "chart" if all(M.kind == "chart" for M in self.manifolds) else "equality"

    # ------------------------------------------------------------------ checks
    def _batch(self, X: Point, free: bool = False) -> tuple[int, ...]:
        M, x = self.manifolds[0], X[0]
        n = getattr(M, "free_ndim", M.ndim) if free else M.ndim
        return tuple(x.shape[: x.ndim - n])

    def check_shape(self, shape) -> None:
        """Needs one shape per factor, each valid for its factor."""
        self._check_count(shape)
        for M, s in zip(self.manifolds, shape):
            M.check_shape(tuple(s))

    def _check_count(self, shape) -> None:
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

    def validate(self, X: Point) -> None:
        """A tuple of point tensors, one per factor, each valid for its factor, one batch shape."""
        self._validate_parts(X, free=False)

    def validate_free(self, Z: Point) -> None:
        """A tuple of free variables, one per factor, each valid for its factor, one batch shape."""
        self._validate_parts(Z, free=True)

    def _validate_parts(self, X: Point, free: bool) -> None:
        if not isinstance(X, (tuple, list)):
            shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
            what = "free variables" if free else "points"
            raise ManifoldShapeError(
                self.name,
                shape,
                f"a tuple of {len(self.manifolds)} {what}, one per factor, not one tensor",
            )
        self._check_count([x.shape if isinstance(x, Tensor) else () for x in X])
        for M, x in zip(self.manifolds, X):
            M.validate_free(x) if free else M.validate(x)
        batches = {
            tuple(x.shape[: x.ndim - (getattr(M, "free_ndim", M.ndim) if free else M.ndim)])
            for M, x in zip(self.manifolds, X)
        }
        if len(batches) > 1:
            raise ManifoldShapeError(
                self.name,
                [tuple(x.shape) for x in X],
                f"the same batch dimensions in every factor, got {batches}",
            )

    def point_numel(self, shape) -> int:
        """The entries of one point: the sum over the factors."""
        return sum(M.point_numel(s) for M, s in zip(self.manifolds, shape))

    # ------------------------------------------------------------------ maths
    def _constraint(self, Z: Point) -> Tensor:
        """The factors' constraints, flattened and concatenated per batch element (real)."""
        return self._joined([M._constraint(z) for M, z in zip(self.manifolds, Z)], Z)

    def _joined(self, Cs: list[Tensor], Z: Point) -> Tensor:
        """The factors' constraints ``Cs``, flattened and concatenated per batch element."""
        batch = self._batch(Z, free=True)
        parts = [
            (torch.stack((C.real, C.imag), -1) if C.is_complex() else C).reshape(*batch, -1)
            for C in Cs
        ]
        return torch.cat(parts, dim=-1)

    def _dissolve(self, Z: Point) -> Point:
        """A(Z) = (A1(Z1), ..., Ak(Zk))."""
        return tuple(M._dissolve(z) for M, z in zip(self.manifolds, Z))

    def _dissolve_with_constraint(self, Z: Point) -> tuple[Point, Tensor]:
        """Each factor's own pair, so a factor's closed form shares its work (X^H X, a norm)."""
        pairs = [M._dissolve_with_constraint(z) for M, z in zip(self.manifolds, Z)]
        return tuple(A for A, _ in pairs), self._joined([C for _, C in pairs], Z)

    def _penalty(self, Z: Point) -> Tensor:
        """The sum of the factors' penalties."""
        # a Tensor, never sum's start 0: __init__ requires at least one factor
        return cast(Tensor, sum(M._penalty(z) for M, z in zip(self.manifolds, Z)))

    def _violation(self, X: Point) -> Tensor:
        """The factors' violations combined per batch element: sqrt(sum of squares)."""
        vs = torch.stack([M._violation(x) for M, x in zip(self.manifolds, X)], dim=-1)
        return torch.linalg.vector_norm(vs, dim=-1)

    def _check_point(self, X: Point) -> str | None:
        """The first factor's reason, if any (a sign, say), beyond the violation."""
        for M, x in zip(self.manifolds, X):
            reason = M._check_point(x)
            if reason is not None:
                return reason
        return None

    def _project(self, X: Point, *, atol=None, max_iter=100) -> Point:
        """Each factor projected by its own manifold (each in its own working dtype)."""
        return tuple(M.project(x, max_iter=max_iter) for M, x in zip(self.manifolds, X))

    def _lift(self, X: Point) -> Point:
        """Each factor's free coordinates."""
        return tuple(M.lift(x) for M, x in zip(self.manifolds, X))

    def _random(self, shapes, *, dtype, device, generator) -> Point:
        """One random point per factor: ``random(shape1, shape2, ...)``."""
        return tuple(
            M.random(*s, dtype=dtype, device=device, generator=generator)
            for M, s in zip(self.manifolds, shapes)
        )

    def _free_shape(self, shape) -> tuple:
        return tuple(M.free_shape(s) for M, s in zip(self.manifolds, shape))

    def _point_shape(self, free_shape) -> tuple:
        self._check_count(free_shape)
        return tuple(M.point_shape(s) for M, s in zip(self.manifolds, free_shape))

    def _dimension(self, shape, complex: bool) -> int | None:
        dims = [M.dimension(s, complex=complex) for M, s in zip(self.manifolds, shape)]
        known = [d for d in dims if d is not None]
        return None if len(known) < len(dims) else sum(known)

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
