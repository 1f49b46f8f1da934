"""The hyperbolic manifold {X in R^{n x p} : X^T B X = I}, B symmetric and indefinite (CDOpt's)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError, ProjectionError
from solvent.manifolds.generalized_stiefel import (
    GeneralizedStiefel,
    ManifoldParameterError,
    _check_hermitian,
)
from solvent.manifolds.stiefel import polar, qr_unique

__all__ = ["Hyperbolic", "swap_halves"]


def swap_halves(X: Tensor) -> Tensor:
    """B @ X for the default ``B = [[0, I], [I, 0]]`` (n even): the two row halves swapped."""
    h = X.shape[-2] // 2
    return torch.cat((X[..., h:, :], X[..., :h, :]), dim=-2)


class Hyperbolic(GeneralizedStiefel):
    """``C(X) = X^H B X - I`` with B symmetric (Hermitian), nonsingular and indefinite.

    The map is the generalized Stiefel one, ``A(X) = X (3/2 I - 1/2 X^H B X)``:
    its derivation never uses definiteness, only ``B = B^H``, so
    ``C(A(X)) = -3/4 C^2 + 1/4 C^3`` and, at a feasible X,
    ``DA(X)[D] = D - X sym(X^H B D)`` projects onto the tangent space
    ``{D : sym(X^H B D) = 0}``. The manifold is unbounded (it contains points
    of any size), and nonempty only when B has at least p positive eigenvalues.

    ``project`` and ``random`` work in B's eigenbasis: with ``B = V L V^H`` and
    ``Z = |L|^{1/2} V^H X = [Z+; Z-]`` split by the sign of L, the constraint
    reads ``Z+^H Z+ - Z-^H Z- = I``. ``project`` keeps Z- and replaces Z+ by
    ``polar(Z+) (I + Z-^H Z-)^{1/2}``: defined for every X, identity on M.

    Args:
        B: the symmetric n x n matrix (a tensor, checked: square, symmetric,
            nonsingular, some positive eigenvalue) or a callable ``B(X) = B @ X``.
            ``None`` (CDOpt's default) is ``B = [[0, I], [I, 0]]``, n even, p <= n/2.

    Example:
        >>> import torch, solvent
        >>> H = solvent.manifold("hyperbolic")
        >>> X = H.random(4, 2, dtype=torch.float64)
        >>> I2, O2 = torch.eye(2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
        >>> B = torch.cat((torch.cat((O2, I2), 1), torch.cat((I2, O2), 1)))
        >>> torch.allclose(X.mT @ B @ X, torch.eye(2, dtype=torch.float64))
        True
    """

    name = "hyperbolic"

    def __init__(self, B: Tensor | Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__(B)

    def _check_B(self, B: Tensor) -> None:
        """Square, symmetric and nonsingular, with some positive eigenvalue."""
        _check_hermitian(self.name, B)
        w = torch.linalg.eigvalsh(B)
        tiny = 100 * B.shape[-1] * torch.finfo(B.dtype).eps * float(w.abs().max())
        if bool((w.abs() <= tiny).any()):
            raise ManifoldParameterError(
                self.name, "B", "B must be nonsingular, it has a zero eigenvalue"
            )
        if bool((w <= 0).all()):
            raise ManifoldParameterError(
                self.name, "B", "B has no positive eigenvalue, so X^T B X = I has no solution"
            )
        self._n_positive = int((w > 0).sum(-1).min())

    def apply_B(self, X: Tensor) -> Tensor:
        """B @ X; the default B swaps the two halves of the rows."""
        return swap_halves(X) if self.B is None else super().apply_B(X)

    def _eig_coordinates(self, X: Tensor):
        """B = V L V^H; the map X -> Z = |L|^{1/2} V^H X and back, and the mask L > 0."""
        w, V = torch.linalg.eigh(self._B_matrix(X))
        s = w.abs().sqrt().to(X.dtype).unsqueeze(-1)
        positive = w > 0
        return (lambda Y: s * (V.mH @ Y)), (lambda Z: V @ (Z / s)), positive

    def _split(self, X: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
        if positive.ndim > 1:
            raise ManifoldParameterError(
                self.name, "B", "project/random need a single (unbatched) B"
            )
        if int(positive.sum()) < X.shape[-1]:
            raise ProjectionError(
                f"{self.name}: B has {int(positive.sum())} positive eigenvalues, fewer than p = "
                f"{X.shape[-1]} columns, so X^T B X = I has no solution"
            )
        return positive.nonzero().squeeze(-1), (~positive).nonzero().squeeze(-1)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Keep Z-, set Z+ = polar(Z+) (I + Z-^H Z-)^{1/2} in B's scaled eigenbasis."""
        Y = X.to(torch.complex128 if X.is_complex() else torch.float64)  # float64 inside
        to_z, from_z, positive = self._eig_coordinates(Y)
        Z = to_z(Y)
        ip, im = self._split(Y, positive)
        Zp, Zm = Z[..., ip, :], Z[..., im, :]
        Z = torch.empty_like(Z)
        Z[..., ip, :] = polar(Zp) @ _sqrt_eye_plus_gram(Zm)
        Z[..., im, :] = Zm
        return from_z(Z).to(X.dtype)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Z- Gaussian (scale 1/4: moderate, well-conditioned points), Z+ = Q (I + Z-^H Z-)^{1/2}.

        Q is a Haar frame, so Z+^H Z+ - Z-^H Z- = I exactly.
        """
        X = torch.empty(shape, dtype=dtype, device=device)
        _, from_z, positive = self._eig_coordinates(X)
        ip, im = self._split(X, positive)
        Z = torch.empty_like(X)

        def gauss(k: int) -> Tensor:
            size = (*shape[:-2], k, shape[-1])
            return torch.randn(size, dtype=dtype, device=device, generator=generator)

        Z[..., im, :] = 0.25 * gauss(len(im))
        Z[..., ip, :] = qr_unique(gauss(len(ip))) @ _sqrt_eye_plus_gram(Z[..., im, :])
        return from_z(Z)

    def check_shape(self, shape) -> None:
        """The generalized Stiefel checks; the default B needs n even and p <= n/2."""
        super().check_shape(shape)
        n, p = shape[-2], shape[-1]
        if self.B is None and (n % 2 or 2 * p > n):
            raise ManifoldShapeError(
                self.name,
                shape,
                f"n even and p <= n/2 for the default B = [[0, I], [I, 0]], got {n}x{p}",
                "pass your own B",
            )
        if isinstance(self.B, Tensor) and p > self._n_positive:
            raise ManifoldShapeError(
                self.name, shape, f"p <= {self._n_positive} (B's positive eigenvalues), got p = {p}"
            )

    def example_shapes(self) -> list[tuple[int, ...]]:
        if isinstance(self.B, Tensor):
            n = self.B.shape[-1]  # self._size(), known to be an int here
            return sorted({(n, 1), (n, max(1, min(2, self._n_positive)))})
        return [(4, 2), (4, 1)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        if isinstance(self.B, Tensor):
            n = self.B.shape[-1]  # self._size(), known to be an int here
            return [(), (n,), (n + 1, 1)]
        return [(), (3,), (3, 1), (4, 3)] if self.B is None else [(), (3,), (2, 4)]


def _sqrt_eye_plus_gram(Y: Tensor) -> Tensor:
    """(I + Y^H Y)^{1/2} by eigh (well defined: the matrix is >= I)."""
    w, V = torch.linalg.eigh(torch.eye(Y.shape[-1], dtype=Y.dtype, device=Y.device) + Y.mH @ Y)
    return (V * w.sqrt().to(V.dtype).unsqueeze(-2)) @ V.mH
