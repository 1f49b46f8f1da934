"""Unit vectors inside a subspace: the span of an orthonormal basis U, then the sphere map."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldParameterError, ManifoldShapeError
from solvent.manifolds.base import Manifold
from solvent.manifolds.sphere import normalize, sphere_dissolve, squared_norm

__all__ = ["SphereSubspace"]


class SphereSubspace(Manifold):
    """``x = U U^H x`` and ``|x| = 1``, for an orthonormal n x r basis U.

    ``C(x) = [x - U U^H x, |x|^2 - 1]`` and ``A(x) = 2 P x / (1 + |P x|^2)``
    with ``P = U U^H``: the projection onto span(U), then the sphere's map.
    On M, ``P x = x`` and A(x) = x; DA(x)[d] = P d - x Re(x^H P d) there, the
    orthogonal projection onto the tangent space (span(U) minus the
    direction x); off M the subspace part is exact and the sphere part pulls
    back quadratically. Real and complex (a complex basis needs complex
    points). Cost per forward: two products with U (4nr) and a norm (n).

    Args:
        basis: U, an n x r matrix with orthonormal columns (U^H U = I), r >= 1; a
            complex U takes complex points only. None stands for the whole space
            (U = I): the unit sphere of any size.

    Example:
        >>> import torch, solvent
        >>> U = torch.eye(4, dtype=torch.float64)[:, :2]  # the plane of the first two axes
        >>> M = solvent.manifold("sphere_subspace", basis=U)
        >>> M.project(torch.tensor([3.0, 4.0, 5.0, 6.0], dtype=torch.float64))
        tensor([0.6000, 0.8000, 0.0000, 0.0000], dtype=torch.float64)
    """

    name = "sphere_subspace"
    ndim = 1

    def __init__(self, basis: Tensor | None = None) -> None:
        if basis is not None:
            _check_basis(self.name, basis)
        self.basis = basis
        self.supports_real = basis is None or not basis.is_complex()

    def _U(self, X: Tensor) -> Tensor:
        if self.basis is None:  # callers take the basis=None path before asking for U
            raise RuntimeError("sphere_subspace: _U needs a basis; this one has none")
        return self.basis.to(dtype=X.dtype, device=X.device)

    def _in_span(self, X: Tensor) -> Tensor:
        """P x = U (U^H x)."""
        if self.basis is None:
            return X
        U = self._U(X)
        return (U @ (U.mH @ X.unsqueeze(-1))).squeeze(-1)

    # ------------------------------------------------------------------ checks
    def check_shape(self, shape) -> None:
        """Needs vectors of U's length n."""
        super().check_shape(shape)
        if self.basis is not None and shape[-1] != self.basis.shape[0]:
            n, r = self.basis.shape
            raise ManifoldShapeError(
                self.name, shape, f"vectors of length {n} (the basis is {n}x{r})",
                "give the point the basis's number of rows, or pass another basis",
            )  # fmt: skip

    # ------------------------------------------------------------------ maths
    def _constraint(self, X: Tensor) -> Tensor:
        """C(x) = [x - U U^H x, |x|^2 - 1] (the last entry real, stored in x's dtype)."""
        # keepdim rather than unsqueeze: torch 2.x's hessian of an unsqueezed float32
        # scalar returns float64 after a float64 call in the same process.
        norm = (squared_norm(X, (-1,), keepdim=True) - 1.0).to(X.dtype)
        if self.basis is None:
            return norm
        return torch.cat((X - self._in_span(X), norm), dim=-1)

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(x) = 2 P x / (1 + |P x|^2)."""
        return sphere_dissolve(self._in_span(X), (-1,))

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """P x / |P x|, the nearest point (a vector orthogonal to span(U) goes to U's column 1)."""
        Y = self._in_span(X)
        if self.basis is None:
            return normalize(Y, (-1,))
        # P x below rounding level of x has no direction (x is orthogonal to span(U)).
        r = squared_norm(Y, (-1,), keepdim=True).sqrt()
        floor = 10 * X.shape[-1] * torch.finfo(r.dtype).eps * squared_norm(X, (-1,), True).sqrt()
        ok = r > floor
        first = self._U(X)[:, 0].expand(Y.shape)
        return torch.where(ok, Y / torch.where(ok, r, 1.0).to(Y.dtype), first)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Uniform on the unit sphere of span(U): U g / |g| for a Gaussian g."""
        if self.basis is None:
            return normalize(torch.randn(shape, dtype=dtype, device=device, generator=generator),
                             (-1,))  # fmt: skip
        g = torch.randn((*shape[:-1], self.basis.shape[1]), dtype=dtype, device=device,
                        generator=generator)  # fmt: skip
        g = normalize(g, (-1,))
        return (self._U(g) @ g.unsqueeze(-1)).squeeze(-1)

    def _dimension(self, shape, complex: bool) -> int:
        r = shape[-1] if self.basis is None else self.basis.shape[1]
        return 2 * r - 1 if complex else r - 1

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(3,), (5,)] if self.basis is None else [(self.basis.shape[0],)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [()] if self.basis is None else [(), (self.basis.shape[0] + 1,)]

    def __repr__(self) -> str:
        if self.basis is None:
            return "SphereSubspace(basis=None)"
        return f"SphereSubspace(basis={self.basis.shape[0]}x{self.basis.shape[1]})"


def _check_basis(name: str, U) -> None:
    """U must be an n x r floating matrix, 1 <= r <= n, finite, with orthonormal columns."""
    if not isinstance(U, Tensor) or U.ndim != 2 or not (U.is_floating_point() or U.is_complex()):
        what = tuple(U.shape) if isinstance(U, Tensor) else type(U).__name__
        raise ManifoldParameterError(
            name, "basis", f"it must be an n x r floating matrix, got {what}"
        )
    n, r = U.shape
    if not 1 <= r <= n:
        raise ManifoldParameterError(name, "basis", f"it is {n}x{r}; it needs 1 <= r <= n columns")
    if not bool(torch.isfinite(U).all()):
        raise ManifoldParameterError(name, "basis", "it holds NaN or Inf entries")
    err = float(torch.linalg.matrix_norm(U.mH @ U - torch.eye(r, dtype=U.dtype, device=U.device)))
    if not err <= 1e3 * r * torch.finfo(U.dtype).eps:
        raise ManifoldParameterError(
            name, "basis", f"its columns are not orthonormal (|U^H U - I| = {err:.2g})",
            "orthonormalise it first, e.g. torch.linalg.qr(U).Q",
        )  # fmt: skip
