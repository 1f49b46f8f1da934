"""The Manifold contract.

A manifold is stateless maths over tensors: an instance holds parameters (the
matrix B of a generalized Stiefel manifold, say), never a shape. The last
``ndim`` dimensions of a tensor are the point; all leading dimensions are a
batch.

The contract is template-method style (geoopt's public check calling a
protected hook is the model):

* public methods - ``constraint``, ``dissolve``, ``dissolve_with_constraint``,
  ``penalty``, ``violation``, ``project``, ``random``, ``check_point`` - are
  defined here once. They validate their input (``validate``: type, dtype,
  shape, finiteness where it matters) and call the protected hooks. Subclasses
  never override them (a class that does is refused at definition).
* protected hooks - what a manifold implements: ``_constraint`` (the only
  abstract one), and optionally ``_dissolve`` (closed-form map),
  ``_dissolve_with_constraint`` (shared work), ``_project``, ``_random``,
  ``_check_point`` (an extra condition, e.g. a sign), plus ``check_shape``.
  Hooks do the maths only: no validation.
* hot paths - a constrained module's forward, a solver's objective - validate
  once at set-up and then call the hooks directly, so per call they cost the
  maths and nothing else.

The defaults live here: the generic Jacobian map (Note [generic dissolving
map]), projection by iterating the map, sampling by projecting a Gaussian, and
float32 linear algebra for half/bfloat16 points (Note [low precision] in
``solvent.manifolds._linalg``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent._points import Layout, flatten
from solvent.exceptions import (
    ManifoldDtypeError,
    ManifoldShapeError,
    NonFiniteError,
    ProjectionError,
)
from solvent.manifolds._linalg import LOW_PRECISION, compute_dtype

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
#   have another shape than the point (free_shape: fixed rank m x n stores
#   factors, say), and lift(X) returns coordinates Z with A(Z) = X.
#
# Uniformly, for both kinds:
#   dissolve, dissolve_with_constraint, constraint, penalty: functions of Z;
#   violation, check_point, project, random: functions of a point X;
#   free_shape(point shape) -> Z's shape, lift(X) -> Z.
# For the equality kind Z and X share one space, so every method takes either.
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
    "lift",
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
    "_lift",
)


class Manifold(abc.ABC):
    """A manifold ``M = {X : C(X) = 0}`` with a constraint dissolving map ``A``.

    Subclasses implement the hook :meth:`_constraint` and, where a closed form
    is known, :meth:`_dissolve` (and :meth:`_project`, :meth:`_random`); the
    public methods validate and call them.

    Attributes:
        name: the registry name, e.g. ``"stiefel"``.
        ndim: how many trailing dimensions form one point (1: a vector, 2: a matrix).
        supports_complex: whether complex dtypes are accepted.

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

    # ================================================================== public API
    def constraint(self, X: Tensor) -> Tensor:
        """C(X): zero exactly on the manifold.

        The result's leading dimensions are X's batch dimensions; the rest are
        the constraint's own (any number, possibly none).
        """
        self.validate(X)
        return self._constraint(X)

    def dissolve(self, X: Tensor) -> Tensor:
        """A(X), the constraint dissolving map: ``A(X) = X`` on M, DA(X) projects onto T_X M."""
        self.validate(X)
        return self._dissolve(X)

    def dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(X), C(X))`` together, sharing work where the closed form allows."""
        self.validate(X)
        return self._dissolve_with_constraint(X)

    def penalty(self, X: Tensor) -> Tensor:
        """1/2 ||C(X)||_F^2 summed over the batch: a real scalar."""
        self.validate(X)
        return self._penalty(X)

    def penalty_from_constraint(self, C: Tensor) -> Tensor:
        """1/2 ||C||_F^2 for an already computed C (see :meth:`dissolve_with_constraint`)."""
        return 0.5 * _sqnorm(C)

    def violation(self, X: Tensor) -> Tensor:
        """||C(X)||_F for each batch element: the feasibility figure users read."""
        self.validate(X)
        return self._violation(X)

    def project(self, X: Tensor, *, atol: float | None = None, max_iter: int = 100) -> Tensor:
        """A feasible point near X (the nearest one where the manifold knows it).

        Half and bfloat16 points are projected in float32 and cast back.

        Raises:
            NonFiniteError: X holds NaN or Inf entries.
            ProjectionError: the default projection (iterated map) did not converge.
        """
        self.validate(X)
        _check_finite(self.name, X)
        if isinstance(X, Tensor) and X.dtype in LOW_PRECISION:
            W = X.to(compute_dtype(X.dtype))
            return self._project(W, atol=atol, max_iter=max_iter).to(X.dtype)
        return self._project(X, atol=atol, max_iter=max_iter)

    def random(
        self,
        *shape: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """A random feasible point of the given shape (batch dimensions allowed)."""
        self.check_shape(shape)
        dtype = dtype or torch.get_default_dtype()
        if not (dtype.is_floating_point or dtype.is_complex):
            raise ManifoldDtypeError(self.name, dtype, "a floating dtype (float32, float64, ...)")
        if dtype.is_complex and not self.supports_complex:
            raise ManifoldDtypeError(self.name, dtype, "a real floating dtype")
        work = compute_dtype(dtype)
        X = self._random(tuple(shape), dtype=work, device=device, generator=generator)
        return X.to(dtype) if isinstance(X, Tensor) and X.dtype != dtype else X

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
            reason = f"{self.name}: violation ||C(X)|| = {worst:.3g} > atol {atol:.3g}"
        else:
            reason = self._check_point(X)
        ok = reason is None
        return (ok, reason) if explain else ok

    def free_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The free variable's shape for a point of ``shape`` (the identity for the equality kind)."""
        self.check_shape(tuple(shape))
        return self._free_shape(tuple(shape))

    def lift(self, X: Tensor) -> Tensor:
        """A free variable Z with ``dissolve(Z) == X`` for a point X on M.

        For the equality kind this is ``project(X)``; a chart manifold inverts its map.
        """
        self.validate(X)
        _check_finite(self.name, X)
        return self._lift(X)

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
        """Raise early if X is not a tensor of a dtype and shape this manifold takes."""
        if not isinstance(X, Tensor):
            raise TypeError(f"{self.name} needs a torch.Tensor, got {type(X).__name__}")
        if X.is_complex():
            if not self.supports_complex:
                raise ManifoldDtypeError(self.name, X.dtype, "a real floating dtype")
        elif not X.is_floating_point():
            raise ManifoldDtypeError(
                self.name, X.dtype, "a floating dtype (float32, float64, ...); call .double()"
            )
        self.check_shape(X.shape)

    def default_atol(self, X: Tensor) -> float:
        """The feasibility tolerance for X: scaled by the point's size and the dtype's epsilon."""
        n = math.prod(X.shape[X.ndim - self.ndim :]) if self.ndim else 1
        return 100.0 * max(n, 1) * torch.finfo(X.dtype).eps

    # ================================================================== hooks
    @abc.abstractmethod
    def _constraint(self, X: Tensor) -> Tensor:
        """Hook: C(X), for a validated X."""

    def _dissolve(self, X: Tensor) -> Tensor:
        """Hook: A(X). Default: the generic Jacobian map, see Note [generic dissolving map]."""
        return _generic_dissolve(self, X)

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

    def _lift(self, X: Tensor) -> Tensor:
        """Hook: free coordinates of the point X. Default (equality kind): ``project(X)``."""
        return self._project(X, atol=None, max_iter=100)

    # ================================================================== conformance helpers
    def example_shapes(self) -> list[tuple[int, ...]]:
        """Small valid point shapes, for the conformance kit and tests."""
        return [(3,), (5,)] if self.ndim == 1 else [(4, 2), (3, 3), (5, 1)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        """Shapes that must raise ``ValueError``, for the conformance kit."""
        return [()] if self.ndim == 1 else [(), (3,)]

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
    """A manifold reached through a smooth map from free coordinates: Note [two kinds of manifold].

    A plugin author implements ``_dissolve(Z)`` (the map onto M, defined for
    every Z), ``_lift(X)`` (coordinates of a point), ``_project(X)`` (a point of
    M near an ambient X), ``_violation(X)`` (0 on M, positive off it, per batch
    element) and, where the free variable's shape differs from the point's,
    ``_free_shape`` and ``validate_free``. C is empty and the penalty zero.
    """

    kind = "chart"

    def _constraint(self, Z: Tensor) -> Tensor:
        """No equality: an empty C per batch element."""
        batch = Z.shape[: Z.ndim - self.free_ndim]
        return Z.new_zeros((*batch, 0))

    @property
    def free_ndim(self) -> int:
        """How many trailing dimensions of the free variable form one set of coordinates."""
        return self.ndim

    def _penalty(self, Z: Tensor) -> Tensor:
        return Z.real.sum() * 0.0 if Z.is_complex() else Z.sum() * 0.0

    def _dissolve_with_constraint(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        return self._dissolve(Z), self._constraint(Z)

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


def _check_finite(name: str, X) -> None:
    parts = X if isinstance(X, (tuple, list)) else (X,)
    bad = sum(int((~torch.isfinite(x)).sum()) for x in parts if isinstance(x, Tensor))
    if bad:
        total = sum(x.numel() for x in parts if isinstance(x, Tensor))
        raise NonFiniteError(f"{name}.project", bad, total)


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


# Note [generic dissolving map]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# For a manifold given only by C, with J(X) the Jacobian of vec C at X,
#
#     A(X) = X - J^T (J J^T + rho I)^{-1} C(X)
#
# is a Gauss-Newton step towards {C = 0}. At a feasible X, C = 0, so
# DA(X)[d] = d - J^T (J J^T + rho I)^{-1} J d: up to O(rho) it is the orthogonal
# projection onto null(J) = T_X M, and A(X + eps E) has violation O(eps^2).
# rho > 0 keeps the solve regular when constraints are redundant (C = X^T X - I
# is symmetric, so half of J's rows repeat and J J^T is singular at feasible
# points, where CDOpt's generic map fails). rho is tiny relative to J J^T
# (1e3 * eps * mean diag), so the O(rho) error stays at rounding level. Complex
# points are handled as real pairs. Everything is built from torch.func, so
# autograd (and double backward) flow through the map.


def _realify(M: Manifold, X: Tensor):
    """C as a function of a real flat vector, with the matching real flat X."""
    layout = Layout(X)

    def C_flat(x: Tensor) -> Tensor:
        return flatten(M._constraint(layout.unflatten(x)))

    return C_flat, layout.flatten(X)


def _generic_point(M: Manifold, X: Tensor) -> Tensor:
    """The generic map on one point (no batch dimensions)."""
    C_flat, x = _realify(M, X)
    c = C_flat(x)
    if c.numel() == 0:
        return X
    J = torch.func.jacrev(C_flat)(x)  # (m, N)
    G = J @ J.mT
    rho = 1e3 * torch.finfo(x.dtype).eps * (G.diagonal().mean().detach() + 1.0)
    G = G + rho * torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    step = J.mT @ torch.linalg.solve(G, c)
    return Layout(X).unflatten(x - step)


def _generic_dissolve(M: Manifold, X: Tensor) -> Tensor:
    batch = X.shape[: X.ndim - M.ndim]
    if not batch:
        return _generic_point(M, X)
    flat = X.reshape(-1, *X.shape[X.ndim - M.ndim :])
    out = torch.stack([_generic_point(M, x) for x in flat.unbind(0)])
    return out.reshape(X.shape)
