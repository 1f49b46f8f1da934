"""The Stiefel manifold St(n, p) = {X in R^{n x p} : X^H X = I}, n >= p."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds._linalg import eye_like
from solvent.manifolds.base import Manifold

__all__ = ["Stiefel", "gram", "polar", "qr_unique"]


def gram(X: Tensor) -> Tensor:
    """X^H X, the Gram matrix of the columns."""
    return X.mH @ X


def polar(X: Tensor) -> Tensor:
    """The orthonormal polar factor U V^H of X = U S V^H: the nearest point of St(n, p)."""
    U, _, Vh = torch.linalg.svd(X, full_matrices=False)
    return U @ Vh


def qr_unique(X: Tensor) -> Tensor:
    """The Q of a QR decomposition with R's diagonal made positive (so Q is Haar for Gaussian X)."""
    Q, R = torch.linalg.qr(X)
    d = torch.diagonal(R, dim1=-2, dim2=-1)
    sign = torch.where(d.abs() > 0, d / d.abs(), torch.ones_like(d))
    return (Q * sign.unsqueeze(-2)).contiguous()  # QR's Q is column-major


class Stiefel(Manifold):
    """Orthonormal frames: ``C(X) = X^H X - I`` and ``A(X) = X (3/2 I - 1/2 X^H X)``.

    Built from plain torch ops, so it composes with torch.func (jvp, vmap,
    hessian), autocast and compile. A is exact on the manifold, its Jacobian
    there is the projection onto the tangent space, and it pulls points back
    quadratically:
    ``C(A(X)) = -3/4 C^2 + 1/4 C^3``. Real and complex (unitary) frames.

    Example:
        >>> import torch, solvent
        >>> St = solvent.manifold("stiefel")
        >>> X = St.random(6, 3, dtype=torch.float64)
        >>> torch.allclose(X.mT @ X, torch.eye(3, dtype=torch.float64))
        True
    """

    name = "stiefel"
    ndim = 2

    def check_shape(self, shape) -> None:
        """Needs a matrix (n, p) with n >= p, after any batch dimensions."""
        super().check_shape(shape)
        n, p = shape[-2], shape[-1]
        if n < p:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"a tall or square matrix (n >= p), got {n}x{p}",
                "constrain its transpose (solvent.constrain does this for wide weights)",
            )

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = X^H X - I (p x p)."""
        return X.mH @ X - eye_like(X)

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = X (3/2 I - 1/2 X^H X) = 3/2 X - 1/2 X (X^H X)."""
        return torch.add(1.5 * X, X @ (X.mH @ X), alpha=-0.5)  # one op for the scale and sum

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(A(X), C(X)) sharing X^H X: A = X - 1/2 X C, two n x p x p products forward."""
        C = X.mH @ X - eye_like(X)
        return torch.add(X, X @ C, alpha=-0.5), C  # one op for the scale and difference

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The polar factor of X (nearest orthonormal frame in the Frobenius norm)."""
        return polar(X)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """A Haar-distributed frame (QR of a Gaussian matrix with a sign fix)."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return qr_unique(G)

    def example_shapes(self):
        return [(4, 2), (3, 3), (5, 1), (6, 4)]

    def bad_shapes(self):
        return [(), (3,), (2, 4)]

