"""The Grassmann manifold, represented by orthonormal frames."""

from __future__ import annotations

from solvent.manifolds.stiefel import Stiefel

__all__ = ["Grassmann"]


class Grassmann(Stiefel):
    """p-dimensional subspaces of R^n (or C^n), each held by an orthonormal frame X.

    The constraint and the map are Stiefel's: ``C(X) = X^H X - I`` and
    ``A(X) = X (3/2 I - 1/2 X^H X)``. What makes it a Grassmannian is the
    objective: it must be invariant under ``X -> X Q`` for every orthogonal
    (unitary) p x p Q, i.e. depend only on span(X), e.g. ``f(X) = f(X X^H)``.
    Then the directions ``X Ω`` (Ω skew) are flat directions of the objective,
    and every stationary point of ``f(A(X)) + beta * penalty(X)`` on the frames
    is one of the subspace problem. A is equivariant, ``A(X Q) = A(X) Q``, so
    invariance survives the map.

    Example:
        >>> import torch, solvent
        >>> Gr = solvent.manifold("grassmann")
        >>> X = Gr.random(5, 2, dtype=torch.float64)
        >>> Q = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64)).Q
        >>> torch.allclose(Gr.dissolve(X @ Q), Gr.dissolve(X) @ Q)
        True
    """

    name = "grassmann"

    def example_shapes(self):
        return [(4, 2), (3, 3)]
