"""The special orthogonal group SO(n) = {X in R^{n x n} : X^T X = I, det X = +1}."""

from __future__ import annotations

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.stiefel import Stiefel, qr_unique

__all__ = ["SO"]


class SO(Stiefel):
    """Rotations: square Stiefel, ``C(X) = X^T X - I``, ``A(X) = X (3/2 I - 1/2 X^T X)``, det = +1.

    The determinant is not part of C: O(n) has two components and C vanishes
    on both. The map keeps the component: ``det A(X) = det X * det(3/2 I -
    1/2 X^T X)``, and the second factor is positive while every singular value
    of X is below sqrt(3), so near SO(n) the dissolved point stays in det > 0.
    ``project`` and ``random`` land in SO(n). Real only (the complex analogue
    needs det = 1, which C cannot express; use ``stiefel`` for U(n)).

    Example:
        >>> import torch, solvent
        >>> R = solvent.manifold("so").random(3, 3, dtype=torch.float64)
        >>> round(float(torch.linalg.det(R)), 12)
        1.0
    """

    name = "so"
    supports_complex = False

    def check_shape(self, shape) -> None:
        """Needs a square matrix (n, n), after any batch dimensions."""
        super().check_shape(shape)
        if shape[-2] != shape[-1]:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"a square matrix, got {shape[-2]}x{shape[-1]}",
                "use 'stiefel' for rectangular orthonormal frames",
            )

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """The nearest rotation: ``U diag(1, ..., 1, det(U V^T)) V^T`` for X = U S V^T."""
        U, _, Vh = torch.linalg.svd(X)
        d = torch.linalg.det(U @ Vh)
        # Flip the singular vector of the smallest singular value: the cheapest fix (Frobenius).
        flip = torch.ones(X.shape[:-1], dtype=X.dtype, device=X.device)
        flip[..., -1] = torch.where(d < 0, -1.0, 1.0).to(X.dtype)
        return (U * flip.unsqueeze(-2)) @ Vh

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """Haar on SO(n): a Haar orthogonal matrix with its first column negated when det < 0."""
        Q = qr_unique(torch.randn(shape, dtype=dtype, device=device, generator=generator))
        flip = torch.ones(Q.shape[:-1], dtype=Q.dtype, device=Q.device)
        flip[..., 0] = torch.where(torch.linalg.det(Q) < 0, -1.0, 1.0).to(Q.dtype)
        return Q * flip.unsqueeze(-2)

    def _check_point(self, X: Tensor) -> str | None:
        """In the det > 0 component of O(n), beyond C = 0."""
        if not bool((torch.linalg.det(X) > 0).all()):
            return "so: det(X) < 0 (X is a reflection, in the other component of O(n))"
        return None

    def example_shapes(self):
        return [(3, 3), (2, 2)]

    def bad_shapes(self):
        return [(), (3,), (3, 2)]
