"""The generalized Stiefel manifold {X in R^{n x p} : X^H B X = I}, B positive definite."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from solvent.exceptions import ManifoldParameterError, ManifoldShapeError, ProjectionError
from solvent.manifolds._linalg import eye_like, wide
from solvent.manifolds.base import Manifold

__all__ = ["GeneralizedStiefel", "ManifoldParameterError", "inv_sqrt_hermitian"]


def inv_sqrt_hermitian(S: Tensor, manifold: str) -> Tensor:
    """S^{-1/2} of Hermitian positive definite S (by eigh), a ProjectionError if S is not."""
    w, V = torch.linalg.eigh(S)
    if not bool((w > 0).all()):
        raise ProjectionError(
            f"{manifold}.project needs X^H B X positive definite (X of full column rank), "
            f"got smallest eigenvalue {float(w.min()):.3g}; start from a full-rank point"
        )
    return (V * w.rsqrt().to(V.dtype).unsqueeze(-2)) @ V.mH


def _check_hermitian(name: str, B: Tensor) -> None:
    if B.ndim < 2 or B.shape[-1] != B.shape[-2]:
        raise ManifoldParameterError(
            name, "B", f"B must be a square matrix, got shape {tuple(B.shape)}"
        )
    if not (B.is_floating_point() or B.is_complex()):
        raise ManifoldParameterError(
            name, "B", f"B must be floating, got {B.dtype}", "call .double()"
        )
    scale = float(torch.linalg.matrix_norm(B).max()) or 1.0
    asym = float(torch.linalg.matrix_norm(B - B.mH).max())
    if asym > 100 * B.shape[-1] * torch.finfo(B.dtype).eps * scale:
        raise ManifoldParameterError(
            name,
            "B",
            f"B must be symmetric (Hermitian), but ||B - B^H|| = {asym:.3g}",
            "pass (B + B^H) / 2",
        )


class GeneralizedStiefel(Manifold):
    """B-orthonormal frames: ``C(X) = X^H B X - I`` and ``A(X) = X (3/2 I - 1/2 X^H B X)``.

    With ``C = X^H B X - I``, ``A(X) = X - 1/2 X C`` gives ``A^H B A = (I - C/2)(I + C)(I - C/2)``,
    so ``C(A(X)) = -3/4 C^2 + 1/4 C^3``: quadratic pull-back. At a feasible X,
    ``DA(X)[D] = D - X sym(X^H B D)``, whose image satisfies ``sym(X^H B DA[D]) = 0``
    (the tangent space) and which fixes tangent D. Real and complex (Hermitian B).

    Args:
        B: the symmetric positive definite n x n matrix, as a tensor (checked
            here: square, symmetric, positive definite) or as a callable
            ``B(X) = B @ X`` (trusted: not checked). ``None`` means ``B = I``,
            i.e. the Stiefel manifold.

    Example:
        >>> import torch, solvent
        >>> B = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
        >>> M = solvent.manifold("generalized_stiefel", B=B)
        >>> X = M.random(4, 2, dtype=torch.float64)
        >>> torch.allclose(X.mT @ B @ X, torch.eye(2, dtype=torch.float64))
        True
    """

    name = "generalized_stiefel"
    ndim = 2

    def __init__(self, B: Tensor | Callable[[Tensor], Tensor] | None = None) -> None:
        if isinstance(B, Tensor):
            self._check_B(B)
        elif B is not None and not callable(B):
            raise ManifoldParameterError(
                self.name,
                "B",
                f"B must be a tensor, a callable X -> B @ X or None, got {type(B).__name__}",
            )
        self.B = B

    def _check_B(self, B: Tensor) -> None:
        """Square, symmetric and positive definite (by a Cholesky factorisation)."""
        _check_hermitian(self.name, B)
        if int(torch.linalg.cholesky_ex(B).info.max()) != 0:
            w = float(torch.linalg.eigvalsh(B).min())
            raise ManifoldParameterError(
                self.name,
                "B",
                f"B must be positive definite, but its smallest eigenvalue is {w:.3g}",
                "use 'hyperbolic' for an indefinite B",
            )

    # ------------------------------------------------------------------ maths
    def apply_B(self, X: Tensor) -> Tensor:
        """B @ X, whatever form B was given in."""
        if self.B is None:
            return X
        if callable(self.B) and not isinstance(self.B, Tensor):
            return self.B(X)
        return self._B_matrix(X) @ X

    def _B_matrix(self, X: Tensor) -> Tensor:
        """B as a dense matrix in X's dtype and device."""
        if isinstance(self.B, Tensor):
            if self.B.is_complex() and not X.is_complex():
                raise ManifoldParameterError(self.name, "B", "a complex B needs complex points X")
            return self.B.to(dtype=X.dtype, device=X.device)
        eye = torch.eye(X.shape[-2], dtype=X.dtype, device=X.device)
        return self.apply_B(eye)

    def _gram(self, X: Tensor) -> Tensor:
        return X.mH @ self.apply_B(X)

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = X^H B X - I (p x p)."""
        return self._gram(X) - eye_like(X)

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = X (3/2 I - 1/2 X^H B X)."""
        return X @ (1.5 * eye_like(X) - 0.5 * self._gram(X))

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(A(X), C(X)) sharing the B-Gram matrix."""
        C = self._gram(X) - eye_like(X)
        return torch.add(X, X @ C, alpha=-0.5), C

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """X (X^H B X)^{-1/2}: the B-orthonormal frame with X's span and polar orientation.

        A second pass (on a now well-conditioned frame) removes the rounding
        error of the first, which grows like eps * cond(X)^2.
        """
        Y = X.to(wide(X.dtype))  # float64 inside: a float32 Gram matrix loses half the digits
        Y = Y @ inv_sqrt_hermitian(self._gram(Y), self.name)
        return (Y @ inv_sqrt_hermitian(self._gram(Y), self.name)).to(X.dtype)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """A Gaussian matrix G made B-orthonormal: G (G^H B G)^{-1/2}."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return self.project(G)

    # ------------------------------------------------------------------ shapes
    def _size(self) -> int | None:
        return self.B.shape[-1] if isinstance(self.B, Tensor) else None

    def check_shape(self, shape) -> None:
        """Needs (n, p) with n >= p, and n matching B when B is a tensor."""
        super().check_shape(shape)
        n, p = shape[-2], shape[-1]
        if self._size() is not None and n != self._size():
            raise ManifoldShapeError(self.name, shape, f"{self._size()} rows to match B, got {n}")
        if n < p:
            raise ManifoldShapeError(
                self.name, shape, f"n >= p, got {n}x{p}", "constrain its transpose"
            )

    def example_shapes(self) -> list[tuple[int, ...]]:
        n = self._size()
        return [(4, 2), (3, 3)] if n is None else sorted({(n, 1), (n, min(2, n)), (n, n)})

    def bad_shapes(self) -> list[tuple[int, ...]]:
        n = self._size()
        return [(), (3,), (2, 4)] if n is None else [(), (n,), (n + 1, 1)]

    def __repr__(self) -> str:
        kind = (
            "None" if self.B is None else ("tensor" if isinstance(self.B, Tensor) else "callable")
        )
        return f"{type(self).__name__}(B={kind})"




