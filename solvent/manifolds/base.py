"""The Manifold contract: what every manifold is, and what a plugin author writes.

A manifold is stateless maths over tensors: an instance holds parameters (the
matrix B of a generalized Stiefel manifold, say), never a shape. The last
``ndim`` dimensions of a tensor are the point; all leading dimensions are a
batch.

Two kinds of manifold (Note [two kinds of manifold]) share one interface:

* **equality** (:class:`Manifold`): ``M = {X : C(X) = 0}`` with a constraint
  dissolving map A. The author implements ``_constraint`` (the only abstract
  hook) and, where a closed form is known, ``_dissolve``,
  ``_dissolve_with_constraint``, ``_project``, ``_random``, ``_check_point``,
  plus ``check_shape`` and ``example_shapes``.
* **chart** (:class:`ChartManifold`): M is reached by a smooth map A from free
  coordinates Z, ``A(Z)`` in M for every Z (an open set through a chart, a
  factorised set through a submersion). The author implements ``_dissolve``
  (the map), ``_lift`` (coordinates of a point), ``_violation`` (0 exactly on
  M), ``_project`` (a point of M near an ambient X) and, where Z's shape
  differs from the point's, ``_free_shape`` and ``_point_shape``; optionally
  ``_dimension`` (checked by the kit against the Jacobian's rank).

The contract is template-method style (geoopt's public check calling a
protected hook is the model):

* public methods are defined here once. They validate their input and call
  the hooks; subclasses never override them (a class that does is refused at
  definition). ``dissolve``, ``dissolve_with_constraint``, ``constraint`` and
  ``penalty`` take a *free variable* (``validate_free``); ``violation``,
  ``check_point``, ``project``, ``lift`` take a *point* (``validate``);
  ``random`` returns a point, ``free_shape``/``point_shape`` convert shapes.
* hooks do the maths only: no validation.
* hot paths - a constrained module's forward, a solver's objective - validate
  once at set-up and then call the hooks directly, so per call they cost the
  maths and nothing else.

The defaults live here: the generic Jacobian map (Note [generic dissolving
map]), projection by iterating the map, sampling by projecting a Gaussian, and
float32 linear algebra for half/bfloat16 points (Note [low precision] in
``solvent.manifolds._linalg``). Points are handled through ``solvent._points``
only, so a manifold whose point is a tuple of tensors (``product``) needs no
special case here.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent._points import map_parts, parts
from solvent.exceptions import (
    ManifoldDtypeError,
    ManifoldShapeError,
    NonFiniteError,
    ProjectionError,
)
from solvent.manifolds._generic import generic_dissolve
from solvent.manifolds._linalg import LOW_PRECISION, compute_dtype, tolerance

__all__ = ["HOOKS", "KINDS", "PUBLIC", "ChartManifold", "Manifold", "is_closed_form"]

# Note [two kinds of manifold]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# Every layer and solver works on a *free variable* Z and reads the *point*
# A(Z) = dissolve(Z); the penalty is 1/2 ||C(Z)||^2 on the free variable.
#
# * kind "equality" (Manifold): M = {X : C(X) = 0}. The free variable lives in
#   the point's own space (free_shape is the identity), A is a constraint
#   dissolving map (A = id on M, DA projects onto T_X M), lift(X) = project(X).
#   Feasibility of A(Z) holds to first order and is kept by the penalty.
# * kind "chart" (ChartManifold): M is an open set or the image of a
#   factorisation, reached through a smooth map A from free coordinates Z onto
#   M (a chart or a submersion). A(Z) is in M for *every* Z, C is empty, the
#   penalty is identically zero, and beta plays no role. The free variable may
#   have another shape than the point (free_shape: PSD of rank k as Y Y^H
#   stores the n x k factor Y, say), and lift(X) returns coordinates Z with
#   A(Z) = X.
#
# Uniformly, for both kinds:
#   dissolve, dissolve_with_constraint, constraint, penalty: functions of Z,
#       validated by validate_free (the free variable's shape and dtype);
#   violation, check_point, project, lift: functions of a point X, validated
#       by validate; random returns a point;
#   free_shape(point shape) -> Z's shape; point_shape(Z's shape) -> the point's.
# For the equality kind Z and X share one space, so every method takes either.
#
# What each public method means for a chart manifold: dissolve(Z) is the map
# (always on M); constraint(Z) is empty and penalty(Z) is 0 (still a tensor
# that autograd and torch.func accept); violation(X) is how far a point is
# from M (0 on M: a negative eigenvalue of an SPD candidate, say); project(X)
# is a point of M near X (for an open set, X itself when X is in M);
# check_point(X) compares violation with the tolerance.
KINDS = ("equality", "chart")

# The template methods: defined once, here. Subclasses implement the hooks.
PUBLIC = (
    "constraint",
    "dissolve",
    "dissolve_with_constraint",
    "penalty",
    "violation",
    "project",
    "random",
    "check_point",
    "free_shape",
    "point_shape",
    "lift",
    "dimension",
    "default_atol",
)
HOOKS = (
    "_constraint",
    "_dissolve",
    "_dissolve_with_constraint",
    "_penalty",
    "_violation",
    "_project",
    "_random",
    "_check_point",
    "_free_shape",
    "_point_shape",
    "_lift",
    "_dimension",
)


class Manifold(abc.ABC):
    """A manifold ``M = {X : C(X) = 0}`` with a constraint dissolving map ``A`` (kind "equality").

    A plugin author implements the hook :meth:`_constraint` (C, the only
    abstract one) and, where a closed form is known, :meth:`_dissolve`
    (A: ``A(X) = X`` on M, and DA(X) projects onto T_X M there),
    :meth:`_dissolve_with_constraint` (both at once, sharing work),
    :meth:`_project` (a nearby feasible point), :meth:`_random` (a feasible
    sample), :meth:`_check_point` (a condition beyond C, e.g. a sign), and
    :meth:`check_shape` / :meth:`example_shapes`. The public methods validate
    and call them. For this kind the free variable and the point share one
    space: ``free_shape`` is the identity and ``lift`` is ``project``.

    Attributes:
        name: the registry name, e.g. ``"stiefel"``.
        kind: ``"equality"`` here, ``"chart"`` for :class:`ChartManifold`.
        ndim: how many trailing dimensions form one point (1: a vector, 2: a matrix).
        supports_complex: whether complex dtypes are accepted.
        supports_real: whether real dtypes are accepted (False for a manifold of complex
            points only, e.g. one given by a complex parameter).

    Example:
        >>> import torch, solvent
        >>> M = solvent.manifold("stiefel")
        >>> X = M.random(5, 3, dtype=torch.float64)
        >>> bool(M.violation(X) < 1e-12)
        True
    """

    name: str = "manifold"
    kind: str = "equality"  # Note [two kinds of manifold]
    ndim: int = 2
    supports_complex: bool = True
    supports_real: bool = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Invariant: the public methods are the ones defined here, so every
        # manifold validates its input the same way and no override can forget.
        overridden = [m for m in PUBLIC if m in cls.__dict__]
        if overridden:
            hooks = ", ".join(f"_{m}" for m in overridden)
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)}: a Manifold implements the "
                f"protected hook(s) {hooks} instead (the public methods validate the input and "
                "call the hooks; see solvent.Manifold's docstring)"
            )

    # ================================================================== public API: free variable
    def constraint(self, Z: Tensor) -> Tensor:
        """C(Z): zero exactly on the manifold (empty for the chart kind).

        The result's leading dimensions are Z's batch dimensions; the rest are
        the constraint's own (any number, possibly none).
        """
        self.validate_free(Z)
        return self._constraint(Z)

    def dissolve(self, Z: Tensor) -> Tensor:
        """A(Z), the point a free variable stands for.

        Equality kind: the constraint dissolving map, ``A(X) = X`` on M and
        DA(X) projects onto T_X M. Chart kind: the map onto M.
        """
        self.validate_free(Z)
        return self._dissolve(Z)

    def dissolve_with_constraint(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(Z), C(Z))`` together, sharing work where the closed form allows."""
        self.validate_free(Z)
        return self._dissolve_with_constraint(Z)

    def penalty(self, Z: Tensor) -> Tensor:
        """1/2 ||C(Z)||_F^2 summed over the batch: a real scalar (0 for the chart kind)."""
        self.validate_free(Z)
        return self._penalty(Z)

    def penalty_from_constraint(self, C: Tensor) -> Tensor:
        """1/2 ||C||_F^2 for an already computed C (see :meth:`dissolve_with_constraint`)."""
        return 0.5 * _sqnorm(C)

    # ================================================================== public API: points
    def violation(self, X: Tensor) -> Tensor:
        """How far the point X is from M, per batch element: ||C(X)||_F for the equality kind."""
        self.validate(X)
        return self._violation(X)

    def project(self, X: Tensor, *, atol: float | None = None, max_iter: int = 100) -> Tensor:
        """A point of M near X (the nearest one where the manifold knows it).

        Half and bfloat16 points are projected in float32 and cast back.

        Raises:
            NonFiniteError: X holds NaN or Inf entries.
            ProjectionError: the default projection (iterated map) did not converge.
        """
        self.validate(X)
        _check_finite(f"{self.name}.project", X)
        low = parts(X)[0].dtype in LOW_PRECISION
        if low:
            dtype = parts(X)[0].dtype
            W = map_parts(lambda t: t.to(compute_dtype(t.dtype)), X)
            return map_parts(lambda t: t.to(dtype), self._project(W, atol=atol, max_iter=max_iter))
        return self._project(X, atol=atol, max_iter=max_iter)

    def random(
        self,
        *shape: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """A random point of M of the given point shape (batch dimensions allowed)."""
        self.check_shape(shape)
        dtype = dtype or torch.get_default_dtype()
        if not (dtype.is_floating_point or dtype.is_complex):
            raise ManifoldDtypeError(self.name, dtype, "a floating dtype (float32, float64, ...)")
        if dtype.is_complex and not self.supports_complex:
            raise ManifoldDtypeError(self.name, dtype, "a real floating dtype")
        if not dtype.is_complex and not self.supports_real:
            raise ManifoldDtypeError(self.name, dtype, "a complex dtype")
        work = compute_dtype(dtype)
        X = self._random(tuple(shape), dtype=work, device=device, generator=generator)
        return map_parts(lambda t: t if t.dtype == dtype else t.to(dtype), X)

    def check_point(
        self, X: Tensor, atol: float | None = None, explain: bool = False
    ) -> bool | tuple[bool, str | None]:
        """Whether X is on the manifold; with ``explain=True``, ``(ok, reason)``."""
        try:
            self.validate(X)
        except (TypeError, ValueError) as err:
            return (False, str(err)) if explain else False
        atol = self.default_atol(X) if atol is None else atol
        v = self._violation(X)
        worst = float(v.max()) if v.numel() else 0.0
        reason = None
        if not worst <= atol:
            reason = f"{self.name}: violation {worst:.3g} > atol {atol:.3g}"
        else:
            reason = self._check_point(X)
        ok = reason is None
        return (ok, reason) if explain else ok

    def lift(self, X: Tensor) -> Tensor:
        """A free variable Z with ``dissolve(Z) == X`` for a point X on M.

        For the equality kind this is ``project(X)``; a chart manifold inverts its map.
        """
        self.validate(X)
        _check_finite(f"{self.name}.lift", X)
        return self._lift(X)

    # ================================================================== public API: shapes
    def free_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The free variable's shape for a point of ``shape`` (the identity for the equality kind).

        Example:
            >>> import solvent
            >>> solvent.manifold("stiefel").free_shape((5, 3))
            (5, 3)
        """
        shape = _as_shape(shape)
        self.check_shape(shape)
        return self._free_shape(shape)

    def point_shape(self, free_shape: Sequence[int]) -> tuple[int, ...]:
        """The point's shape for a free variable of ``free_shape``; the inverse of ``free_shape``.

        Raises:
            ManifoldShapeError: no point has free coordinates of that shape.

        Example:
            >>> import solvent
            >>> solvent.manifold("sphere").point_shape((2, 4))
            (2, 4)
        """
        shape = self._point_shape(_as_shape(free_shape))
        self.check_shape(shape)
        return shape

    def dimension(self, shape: Sequence[int], *, complex: bool = False) -> int | None:
        """The real dimension of M at one point of ``shape`` (batch ignored), if declared.

        ``complex=True`` asks for complex points (C^n has real dimension 2n).
        The conformance kit compares it with the rank of the map's Jacobian
        (chart kind); None means undeclared.

        Example:
            >>> import solvent
            >>> solvent.manifold("euclidean").dimension((2, 3), complex=True)
            6
        """
        shape = _as_shape(shape)
        self.check_shape(shape)
        return self._dimension(shape, complex)

    def default_atol(self, X: Tensor) -> float:
        """The feasibility tolerance for X: ``tolerance(point size, dtype)``, one formula."""
        return tolerance(self.point_numel(_shape_of(X)), parts(X)[0].dtype)

    # ================================================================== checks
    def check_shape(self, shape: Sequence[int]) -> None:
        """Raise ``ValueError`` naming the manifold, the shape and what it needs."""
        shape = tuple(shape)
        if len(shape) < self.ndim:
            kind = {1: "a vector", 2: "a matrix"}.get(self.ndim, f"{self.ndim} dimensions")
            raise ManifoldShapeError(
                self.name,
                shape,
                f"at least {self.ndim} dimension(s) ({kind} per point)",
                "reshape the tensor, or use a manifold for this many dimensions",
            )

    def validate(self, X: Tensor) -> None:
        """Raise early if X is not a point-shaped tensor of a dtype this manifold takes."""
        self._validate_tensor(X)
        self.check_shape(X.shape)

    def validate_free(self, Z: Tensor) -> None:
        """Raise early if Z is not a free variable of this manifold (its shape and dtype)."""
        self._validate_tensor(Z)
        self.point_shape(Z.shape)

    def supports_dtype(self, dtype: torch.dtype) -> bool:
        """Whether points of ``dtype`` are accepted (floating; complex or real as supported).

        Example:
            >>> import torch, solvent
            >>> solvent.manifold("so").supports_dtype(torch.complex128)
            False
        """
        if dtype.is_complex:
            return self.supports_complex
        return dtype.is_floating_point and self.supports_real

    def point_numel(self, shape) -> int:
        """How many entries one point of ``shape`` has (batch dimensions excluded)."""
        shape = tuple(shape)
        return max(math.prod(shape[len(shape) - self.ndim :]) if self.ndim else 1, 1)

    def _validate_tensor(self, X: Tensor) -> None:
        if not isinstance(X, Tensor):
            raise TypeError(f"{self.name} needs a torch.Tensor, got {type(X).__name__}")
        if X.is_complex():
            if not self.supports_complex:
                raise ManifoldDtypeError(self.name, X.dtype, "a real floating dtype")
        elif not X.is_floating_point():
            raise ManifoldDtypeError(
                self.name, X.dtype, "a floating dtype (float32, float64, ...); call .double()"
            )
        elif not self.supports_real:
            raise ManifoldDtypeError(self.name, X.dtype, "a complex dtype")

    # ================================================================== hooks
    @abc.abstractmethod
    def _constraint(self, X: Tensor) -> Tensor:
        """Hook: C(X), for a validated X."""

    def _dissolve(self, X: Tensor) -> Tensor:
        """Hook: A(X). Default: the generic Jacobian map, see Note [generic dissolving map]."""
        return generic_dissolve(self, X)

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Hook: ``(A(X), C(X))``. Closed forms override it to share work."""
        return self._dissolve(X), self._constraint(X)

    def _penalty(self, X: Tensor) -> Tensor:
        """Hook: 1/2 ||C(X)||^2 summed over the batch."""
        return 0.5 * _sqnorm(self._constraint(X))

    def _violation(self, X: Tensor) -> Tensor:
        """Hook: ||C(X)||_F per batch element."""
        C = self._constraint(X)
        batch = tuple(X.shape[: X.ndim - self.ndim])
        if C.numel() == 0:
            return X.real.new_zeros(batch) if X.is_complex() else X.new_zeros(batch)
        return torch.linalg.vector_norm(C.reshape(*batch, -1), dim=-1)

    def _project(self, X: Tensor, *, atol: float | None, max_iter: int) -> Tensor:
        """Hook: a feasible point near X. Default: iterate the map until feasible."""
        atol = self.default_atol(X) if atol is None else atol
        Y = X
        for _ in range(max_iter):
            v = self._violation(Y)
            if not torch.isfinite(v).all():
                break
            if bool((v <= atol).all()):
                return Y
            Y = self._dissolve(Y)
        raise ProjectionError(
            f"{self.name}.project did not reach the manifold in {max_iter} dissolve steps "
            f"(violation {float(self._violation(Y).max()):.3g} > {atol:.3g}); start closer to "
            "the manifold, or give the manifold a closed-form _project()."
        )

    def _random(self, shape: tuple, *, dtype: torch.dtype, device, generator) -> Tensor:
        """Hook: a random feasible point. Default: a Gaussian, projected."""
        X = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self._project(X, atol=None, max_iter=100)

    def _check_point(self, X: Tensor) -> str | None:
        """Hook: a reason X is not on M beyond its violation (e.g. a sign), or None."""
        return None

    def _free_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Hook: the free variable's shape for a valid point shape. Default: the same."""
        return shape

    def _point_shape(self, free_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Hook: the point shape for a free variable's shape (raise if none). Default: the same."""
        return free_shape

    def _lift(self, X: Tensor) -> Tensor:
        """Hook: free coordinates of the point X. Default (equality kind): ``project(X)``."""
        return self._project(X, atol=None, max_iter=100)

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int | None:
        """Hook: the real dimension of M at one point of ``shape``; None when not declared."""
        return None

    # ================================================================== conformance helpers
    def example_shapes(self) -> list[tuple[int, ...]]:
        """Small valid point shapes, for the conformance kit and tests."""
        return [(3,), (5,)] if self.ndim == 1 else [(4, 2), (3, 3), (5, 1)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        """Point shapes that must raise ``ValueError``, for the conformance kit."""
        return [()] if self.ndim == 1 else [(), (3,)]

    def bad_free_shapes(self) -> list[tuple[int, ...]]:
        """Free-variable shapes that ``dissolve`` must refuse with ``ValueError``."""
        return self.bad_shapes()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self.__dict__.keys() == other.__dict__.keys()
            and all(_same(v, other.__dict__[k]) for k, v in self.__dict__.items())
        )

    def __hash__(self) -> int:
        return hash((type(self), self.name))


class ChartManifold(Manifold):
    """A manifold reached through a smooth map from free coordinates (kind "chart").

    M is an open set (positive entries, SPD matrices) or the image of a
    factorisation (PSD of rank k as Y Y^H): ``dissolve(Z)`` lands in M for
    *every* free variable Z, so nothing needs dissolving, C is empty and the
    penalty is 0 (Note [two kinds of manifold]).

    A plugin author implements:

    * ``_dissolve(Z)``: the map onto M, smooth, a submersion at generic Z
      (its Jacobian has rank ``dim M``), built from differentiable torch ops;
    * ``_lift(X)``: coordinates of a point, ``_dissolve(_lift(X)) == X``;
    * ``_violation(X)``: 0 on M, positive off it, per batch element;
    * ``_project(X, atol=, max_iter=)``: a point of M near an ambient X;
    * ``_random`` (default: ``_dissolve`` of a Gaussian free variable);
    * where Z's shape differs from the point's, ``_free_shape(point_shape)``
      and ``_point_shape(free_shape)`` (raising ``ManifoldShapeError`` for a
      free shape no point has), and ``free_ndim``;
    * optionally ``_dimension(shape)``, which the kit checks against the rank
      of DA.

    Example:
        >>> import torch
        >>> class Positive(ChartManifold):
        ...     name, ndim, supports_complex = "positive_example", 1, False
        ...     def _dissolve(self, Z): return torch.exp(Z)
        ...     def _lift(self, X): return torch.log(X)
        ...     def _violation(self, X): return torch.relu(-X).amax(-1)
        ...     def _project(self, X, *, atol=None, max_iter=100): return X.clamp_min(1e-12)
        >>> P = Positive()
        >>> X = P.dissolve(torch.zeros(3))
        >>> P.check_point(X), float(P.penalty(torch.zeros(3)))
        (True, 0.0)
    """

    kind = "chart"

    @property
    def free_ndim(self) -> int:
        """How many trailing dimensions of the free variable form one set of coordinates."""
        return self.ndim

    def validate_free(self, Z: Tensor) -> None:
        """Raise early if Z is not a free variable: its dtype, and a shape ``point_shape`` takes."""
        self._validate_tensor(Z)
        if Z.ndim < self.free_ndim:
            raise ManifoldShapeError(
                self.name,
                Z.shape,
                f"a free variable of at least {self.free_ndim} dimension(s)",
                "pass the free coordinates (see free_shape), not the point",
            )
        self.point_shape(Z.shape)

    def _constraint(self, Z: Tensor) -> Tensor:
        """No equality: an empty C per batch element."""
        batch = Z.shape[: Z.ndim - self.free_ndim]
        return Z.new_zeros((*batch, 0))

    def _penalty(self, Z: Tensor) -> Tensor:
        """0, as a real scalar that depends on Z (so autograd and torch.func accept it)."""
        return Z.real.sum() * 0.0 if Z.is_complex() else Z.sum() * 0.0

    def _dissolve_with_constraint(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        return self._dissolve(Z), self._constraint(Z)

    def _random(self, shape: tuple, *, dtype: torch.dtype, device, generator) -> Tensor:
        """Hook: a random point, the map of a standard Gaussian free variable."""
        Z = torch.randn(self._free_shape(shape), dtype=dtype, device=device, generator=generator)
        return self._dissolve(Z)

    @abc.abstractmethod
    def _dissolve(self, Z: Tensor) -> Tensor:
        """Hook: the map from coordinates Z onto M."""

    @abc.abstractmethod
    def _lift(self, X: Tensor) -> Tensor:
        """Hook: coordinates Z of the point X (``_dissolve(Z) == X``)."""

    @abc.abstractmethod
    def _violation(self, X: Tensor) -> Tensor:
        """Hook: how far the point X is from M, per batch element (0 on M)."""

    @abc.abstractmethod
    def _project(self, X: Tensor, *, atol: float | None, max_iter: int) -> Tensor:
        """Hook: a point of M near X."""


def is_closed_form(M: Manifold) -> bool:
    """Whether M overrides the generic Jacobian-based dissolving map."""
    return type(M)._dissolve is not Manifold._dissolve


def _check_finite(where: str, X) -> None:
    tensors = parts(X)
    bad = sum(int((~torch.isfinite(t)).sum()) for t in tensors)
    if bad:
        raise NonFiniteError(where, bad, sum(t.numel() for t in tensors))


def _as_shape(shape) -> tuple:
    """A shape as a tuple; a product's shape (one per factor) as a tuple of tuples."""
    shape = tuple(shape)
    if shape and not isinstance(shape[0], int):
        return tuple(_as_shape(s) for s in shape)
    return shape


def _shape_of(X):
    """X's shape; a tuple point's as one shape per part."""
    shapes = tuple(tuple(t.shape) for t in parts(X))
    return shapes[0] if isinstance(X, Tensor) else shapes


def _same(a: object, b: object) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (
            isinstance(a, Tensor)
            and isinstance(b, Tensor)
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    return a == b


def _sqnorm(C: Tensor) -> Tensor:
    if C.is_complex():
        C = torch.view_as_real(C)
    return C.square().sum()
