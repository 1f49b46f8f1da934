"""The Manifold interface.

A manifold is stateless maths over tensors: an instance holds parameters (the
matrix B of a generalized Stiefel manifold, say), never a shape. The last
``ndim`` dimensions of a tensor are the point; all leading dimensions are a
batch. ``constraint`` is the only abstract method.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent.exceptions import ManifoldDtypeError, ManifoldShapeError, ProjectionError

__all__ = ["Manifold", "is_closed_form"]


def _validated(fn):
    """Wrap a subclass's ``constraint``/``dissolve`` so bad input fails early and clearly."""

    @functools.wraps(fn)
    def wrapper(self, X, *args, **kwargs):
        self.validate(X)
        return fn(self, X, *args, **kwargs)

    wrapper.__solvent_validated__ = True
    return wrapper


class Manifold(abc.ABC):
    """A manifold ``M = {X : C(X) = 0}`` with a constraint dissolving map ``A``.

    Subclasses implement :meth:`constraint` and, where a closed form is known,
    override :meth:`dissolve` (and :meth:`project`, :meth:`random`).

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
    ndim: int = 2
    supports_complex: bool = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Every subclass's constraint and dissolve check their input first, so a
        # plugin author gets the same early, explained errors as the built-ins.
        for meth in ("constraint", "dissolve"):
            fn = cls.__dict__.get(meth)
            if fn is not None and not getattr(fn, "__isabstractmethod__", False):
                if not getattr(fn, "__solvent_validated__", False):
                    setattr(cls, meth, _validated(fn))

    # ------------------------------------------------------------------ core maths
    @abc.abstractmethod
    def constraint(self, X: Tensor) -> Tensor:
        """C(X): zero exactly on the manifold.

        The result's leading dimensions are X's batch dimensions; the rest are
        the constraint's own (any number, possibly none).
        """

    def dissolve(self, X: Tensor) -> Tensor:
        """A(X), the constraint dissolving map: ``A(X) = X`` on M, DA(X) projects onto T_X M.

        The default is the generic Jacobian-based map, see Note [generic dissolving map].
        """
        self.validate(X)
        return _generic_dissolve(self, X)

    def dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(X), C(X))`` together; closed forms override it to share work."""
        return self.dissolve(X), self.constraint(X)

    # ------------------------------------------------------------------ derived
    def penalty(self, X: Tensor) -> Tensor:
        """1/2 ||C(X)||_F^2 summed over the batch: a real scalar."""
        return 0.5 * _sqnorm(self.constraint(X))

    def penalty_from_constraint(self, C: Tensor) -> Tensor:
        """1/2 ||C||_F^2 for an already computed C (see :meth:`dissolve_with_constraint`)."""
        return 0.5 * _sqnorm(C)

    def violation(self, X: Tensor) -> Tensor:
        """||C(X)||_F for each batch element: the feasibility figure users read."""
        C = self.constraint(X)
        batch = tuple(X.shape[: X.ndim - self.ndim])
        if C.numel() == 0:
            return X.real.new_zeros(batch) if X.is_complex() else X.new_zeros(batch)
        return torch.linalg.vector_norm(C.reshape(*batch, -1), dim=-1)

    def project(self, X: Tensor, *, atol: float | None = None, max_iter: int = 100) -> Tensor:
        """A feasible point near X.

        The default repeats ``dissolve`` until the violation is below ``atol``
        and raises :class:`ProjectionError` if it does not converge.
        """
        self.validate(X)
        atol = self.default_atol(X) if atol is None else atol
        Y = X
        for _ in range(max_iter):
            v = self.violation(Y)
            if not torch.isfinite(v).all():
                break
            if bool((v <= atol).all()):
                return Y
            Y = self.dissolve(Y)
        raise ProjectionError(
            f"{self.name}.project did not reach the manifold in {max_iter} dissolve steps "
            f"(violation {float(self.violation(Y).max()):.3g} > {atol:.3g}); start closer to "
            "the manifold, or give the manifold a closed-form project()."
        )

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
        X = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self.project(X)

    # ------------------------------------------------------------------ checks
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

    def check_point(
        self, X: Tensor, atol: float | None = None, explain: bool = False
    ) -> bool | tuple[bool, str | None]:
        """Whether X is on the manifold; with ``explain=True``, ``(ok, reason)``."""
        try:
            self.validate(X)
        except (TypeError, ValueError) as err:
            return (False, str(err)) if explain else False
        atol = self.default_atol(X) if atol is None else atol
        v = self.violation(X)
        worst = float(v.max()) if v.numel() else 0.0
        ok = worst <= atol
        if not explain:
            return ok
        reason = None if ok else f"{self.name}: violation ||C(X)|| = {worst:.3g} > atol {atol:.3g}"
        return ok, reason

    # ------------------------------------------------------------------ conformance helpers
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


def is_closed_form(M: Manifold) -> bool:
    """Whether M overrides the generic Jacobian-based dissolving map."""
    return type(M).dissolve is not Manifold.dissolve


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
    shape, cplx = X.shape, X.is_complex()

    def C_flat(x: Tensor) -> Tensor:
        Z = torch.view_as_complex(x.reshape(*shape, 2)) if cplx else x.reshape(shape)
        C = M.constraint(Z)
        return (torch.view_as_real(C) if C.is_complex() else C).reshape(-1)

    x = (torch.view_as_real(X) if cplx else X).reshape(-1)
    return C_flat, x


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
    y = x - step
    return torch.view_as_complex(y.reshape(*X.shape, 2)) if X.is_complex() else y.reshape(X.shape)


def _generic_dissolve(M: Manifold, X: Tensor) -> Tensor:
    batch = X.shape[: X.ndim - M.ndim]
    if not batch:
        return _generic_point(M, X)
    flat = X.reshape(-1, *X.shape[X.ndim - M.ndim :])
    out = torch.stack([_generic_point(M, x) for x in flat.unbind(0)])
    return out.reshape(X.shape)
