"""Doubly stochastic matrices with positive entries, reached through Sinkhorn scaling."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from solvent.manifolds.base import ChartManifold
from solvent.manifolds.spd import check_square

__all__ = ["Birkhoff", "sinkhorn"]

MAX_ITER = 10_000
STALL = 10  # sweeps without a 0.1% gain: the rounding floor, or a crawl not worth following

# Note [sinkhorn map]
# ~~~~~~~~~~~~~~~~~~~
# X = S(Z) = diag(u) exp(Z) diag(v), u and v such that X 1 = 1 and X^T 1 = 1.
# Forward: Sinkhorn's alternating scaling of K = exp(Z - max Z), until the row
# sums (the columns are exact after each column step) are within
# tol = 2 sqrt(n) eps of 1: the rounding level of a sum of n terms, so the
# point is as doubly stochastic as the dtype can say. Sinkhorn contracts
# linearly (at sigma_2(X)^2 per sweep), so the iteration count adapts to Z:
# about 20 sweeps for standard Gaussian Z at n = 12 in float64, 120 for 4x
# that spread, 740 for 8x, and for some 8x draws more than MAX_ITER (exp(Z)
# nearly decomposable: sigma_2 close to 1; the point then misses tol and
# violation shows by how much). The loop also stops after STALL sweeps
# without a 0.1% gain, so that a float32 point at its rounding floor above
# tol does not spin to MAX_ITER.
# Entries of Z more than ~87 (float32) or ~708 (float64) below its maximum
# underflow in exp(Z - max Z) and give zeros (then X is not in the open set,
# and violation/check_point say so).
# Derivative: the implicit function theorem at the fixed point, not
# backpropagation through the sweeps (whose memory grows with their number
# and whose derivative is only that of the truncated loop). With
# log X = Z + a 1^T + 1 b^T,
#     dX = X o (dZ - a' 1^T - 1 b'^T),   [I X; X^T I] [a'; b'] = [r; c],
# r, c the row and column sums of X o dZ (the system is singular along
# (1, -1) and consistent, since 1^T r = 1^T c). The operator is self-adjoint,
# so the vector-Jacobian product is the same formula with G in place of dZ.
# Both solve by block Gauss-Seidel, t <- c - X^T (r - X t), which contracts
# at sigma_2(X)^2 per sweep: the forward's own rate. They run 2N + 10 sweeps
# for a forward that took N (a fixed count: no data-dependent test, so vmap
# and double backward see plain tensor operations), which brings the
# derivative to the point's own rounding level at O(n^2) per sweep.


def _tol(X: Tensor) -> float:
    return 2.0 * math.sqrt(X.shape[-1]) * torch.finfo(X.dtype).eps


def _sinkhorn_forward(Z: Tensor) -> tuple[Tensor, int]:
    """The scaled point and the number of sweeps it took (Note [sinkhorn map])."""
    Z = Z.detach()
    K = torch.exp(Z - Z.amax(dim=(-2, -1), keepdim=True))
    u = torch.ones_like(K[..., :, 0])
    tol, best, stale = _tol(K), math.inf, 0
    for sweep in range(1, MAX_ITER + 1):
        v = 1.0 / (K.mT @ u.unsqueeze(-1)).squeeze(-1)
        Kv = (K @ v.unsqueeze(-1)).squeeze(-1)
        err = float((u * Kv - 1.0).abs().max())
        best, stale = (err, 0) if err < 0.999 * best else (best, stale + 1)
        if err <= tol or stale >= STALL:
            break
        u = 1.0 / Kv
    return u.unsqueeze(-1) * K * v.unsqueeze(-2), sweep


def _remove_sums(X: Tensor, E: Tensor, sweeps: int) -> Tensor:
    """X o (E - s 1^T - 1 t^T), s + X t = r and X^T s + t = c the sums of X o E.

    ``sweeps`` block Gauss-Seidel sweeps from t = 0, with no data-dependent
    test, so that vmap and double backward see plain tensor operations.
    """
    P = X * E
    r, c = P.sum(dim=-1, keepdim=True), P.sum(dim=-2, keepdim=True).mT
    t = torch.zeros_like(c)
    for _ in range(sweeps):
        t = c - X.mT @ (r - X @ t)
    s = r - X @ t
    return X * (E - s - t.mT)


class _Sinkhorn(torch.autograd.Function):
    """S(Z) with its implicit derivative: Note [sinkhorn map]."""

    @staticmethod
    def forward(Z: Tensor) -> tuple[Tensor, Tensor]:
        X, sweeps = _sinkhorn_forward(Z)
        return X, torch.tensor(sweeps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        X, sweeps = output
        ctx.mark_non_differentiable(sweeps)
        ctx.sweeps = 2 * int(sweeps) + 10
        ctx.save_for_backward(X)
        ctx.save_for_forward(X)

    @staticmethod
    def backward(ctx, G: Tensor, _) -> Tensor:
        (X,) = ctx.saved_tensors
        return _remove_sums(X, G, ctx.sweeps)

    @staticmethod
    def jvp(ctx, dZ: Tensor) -> tuple[Tensor, None]:
        (X,) = ctx.saved_tensors
        return _remove_sums(X, dZ, ctx.sweeps), None

    @staticmethod
    def vmap(info, in_dims, Z):
        (dim,) = in_dims
        if dim is None:
            return _Sinkhorn.apply(Z), (None, None)
        return _Sinkhorn.apply(Z.movedim(dim, 0)), (0, None)


def sinkhorn(Z: Tensor) -> Tensor:
    """The doubly stochastic ``diag(u) exp(Z) diag(v)``, differentiable (Note [sinkhorn map]).

    Example:
        >>> X = sinkhorn(torch.randn(4, 4, dtype=torch.float64))
        >>> bool(torch.allclose(X.sum(-1), torch.ones(4, dtype=torch.float64)))
        True
    """
    return _Sinkhorn.apply(Z)[0]


class Birkhoff(ChartManifold):
    """Doubly stochastic n x n matrices with positive entries: ``X = diag(u) exp(Z) diag(v)``.

    The interior of the Birkhoff polytope, ``{X > 0 : X 1 = 1, X^T 1 = 1}``,
    of dimension ``(n - 1)^2``. The map scales ``exp(Z)`` to unit row and
    column sums (Sinkhorn's theorem: u, v exist and are unique up to
    ``(u k, v / k)``), so every Z gives a point and every point X is reached
    (by ``lift(X) = log X``). It is a submersion: constant along
    ``Z + a 1^T + 1 b^T`` and onto the tangent space elsewhere. Iterations,
    tolerance and the implicit derivative: Note [sinkhorn map]. Cost per
    forward: one exp per entry and two matrix-vector products per Sinkhorn
    sweep (per backward: two per sweep of the adjoint). Real dtypes only.

    Example:
        >>> import torch, solvent
        >>> B = solvent.manifold("birkhoff")
        >>> X = B.dissolve(torch.randn(4, 4, dtype=torch.float64))
        >>> bool(B.violation(X) < 1e-12), torch.allclose(B.dissolve(B.lift(X)), X)
        (True, True)
    """

    name = "birkhoff"
    ndim = 2
    supports_complex = False

    def check_shape(self, shape: Sequence[int]) -> None:
        super().check_shape(shape)
        check_square(self.name, tuple(shape))

    def _dissolve(self, Z: Tensor) -> Tensor:
        """A(Z) = diag(u) exp(Z) diag(v), doubly stochastic."""
        return sinkhorn(Z)

    def _lift(self, X: Tensor) -> Tensor:
        """Z = log X: a doubly stochastic exp(Z) needs no scaling."""
        return torch.log(X)

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """Entries raised to at least ``1e-3 * max X``, then scaled to unit sums.

        The floor bounds the spread of log X by log(1e3), so Sinkhorn converges
        in tens of sweeps; a smaller floor leaves nearly decomposable matrices,
        on which it crawls (Note [sinkhorn map]).
        """
        floor = 1e-3 * X.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(X.dtype).tiny)
        return _sinkhorn_forward(torch.log(X.clamp_min(floor)))[0]

    def _violation(self, X: Tensor) -> Tensor:
        """The norm of (row sums - 1, column sums - 1, negative entries)."""
        rows = (X.sum(dim=-1) - 1.0).square().sum(dim=-1)
        cols = (X.sum(dim=-2) - 1.0).square().sum(dim=-1)
        neg = X.clamp_max(0.0).square().sum(dim=(-2, -1))
        return (rows + cols + neg).sqrt()

    def _check_point(self, X: Tensor) -> str | None:
        """Zero entries are on the polytope's boundary, not in this open set."""
        bad = int((~(X > 0)).sum())
        return f"birkhoff: {bad} entries are not > 0" if bad else None

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """The image of a standard Gaussian."""
        G = torch.randn(shape, dtype=dtype, device=device, generator=generator)
        return _sinkhorn_forward(G)[0]

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(1, 1), (3, 3), (4, 4)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (3,), (3, 2)]

    def _dimension(self, shape: tuple[int, ...], complex: bool) -> int:
        """(n - 1)^2."""
        return (shape[-1] - 1) ** 2
