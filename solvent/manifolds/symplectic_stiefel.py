"""The symplectic Stiefel manifold {X in R^{2n x 2p} : X^T J_n X = J_p}, n >= p."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from solvent.exceptions import ManifoldShapeError, ProjectionError
from solvent.manifolds._linalg import eye_like
from solvent.manifolds.base import Manifold
from solvent.manifolds.stiefel import qr_unique

__all__ = ["SymplecticStiefel", "apply_J", "apply_Jt"]


def apply_J(X: Tensor) -> Tensor:
    """J X with ``J = [[0, I], [-I, 0]]`` of X's row count: ``[X_bottom; -X_top]``."""
    h = X.shape[-2] // 2
    return torch.cat((X[..., h:, :], -X[..., :h, :]), dim=-2)


def apply_Jt(X: Tensor) -> Tensor:
    """J^T X = -J X: ``[-X_bottom; X_top]``."""
    h = X.shape[-2] // 2
    return torch.cat((-X[..., h:, :], X[..., :h, :]), dim=-2)


class SymplecticStiefel(Manifold):
    """``C(X) = X^T J_n X - J_p`` and ``A(X) = X (3/2 I - 1/2 J_p^T X^T J_n X)``.

    Derivation (CDOpt's second-order code for this manifold is wrong; this is
    derived afresh and checked by the conformance kit). Let ``S = X^T J_n X``
    (skew) and ``C = S - J_p``. Since ``J_p^T J_p = I``, ``A(X) = X - 1/2 X J_p^T C``,
    so A = id on M. Expanding with ``C^T = -C``, ``J_p^2 = -I``:
    ``A^T J_n A = (I + 1/2 C J_p)(J_p + C)(I + 1/2 J_p C) = J_p + 3/4 C J_p C + O(C^3)``:
    quadratic pull-back. At a feasible X, ``DA(X)[D] = D - 1/2 X J_p^T K`` with
    ``K = X^T J_n D + D^T J_n X`` (skew, the derivative of C); then
    ``X^T J_n DA[D] = X^T J_n D - K/2``, whose skew part is ``K - K = 0``: DA maps
    into the tangent space ``{D : K = 0}`` and fixes it.

    ``project`` is ``X P^{-1/2}`` with ``P = J_p^T X^T J_n X``: P satisfies
    ``P^T S = S P``, so ``(P^{-1/2})^T S P^{-1/2} = S P^{-1} = J_p`` (principal
    root by the Denman-Beavers iteration; P must have no eigenvalue on the
    closed negative real axis). Real only. Points are 2n x 2p, n >= p.

    Example:
        >>> import torch, solvent
        >>> Sp = solvent.manifold("symplectic_stiefel")
        >>> X = Sp.random(6, 4, dtype=torch.float64)
        >>> float(Sp.violation(X)) < 1e-10
        True
    """

    name = "symplectic_stiefel"
    ndim = 2
    supports_complex = False

    def check_shape(self, shape) -> None:
        """Needs (2n, 2p): both even, n >= p."""
        super().check_shape(shape)
        rows, cols = shape[-2], shape[-1]
        if rows % 2 or cols % 2 or cols == 0:
            raise ManifoldShapeError(
                self.name,
                shape,
                f"an even number of rows and of columns (2n x 2p), got {rows}x{cols}",
            )
        if cols > rows:
            raise ManifoldShapeError(self.name, shape, f"n >= p (2n x 2p), got {rows}x{cols}")

    def _S(self, X: Tensor) -> Tensor:
        return X.mT @ apply_J(X)

    def _constraint(self, X: Tensor) -> Tensor:
        """C(X) = X^T J_n X - J_p (2p x 2p, skew)."""
        return self._S(X) - apply_J(eye_like(X))

    def _dissolve(self, X: Tensor) -> Tensor:
        """A(X) = X (3/2 I - 1/2 J_p^T X^T J_n X)."""
        return X @ (1.5 * eye_like(X) - 0.5 * apply_Jt(self._S(X)))

    def _dissolve_with_constraint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(A(X), C(X)) sharing S = X^T J_n X."""
        S = self._S(X)
        return X @ (1.5 * eye_like(X) - 0.5 * apply_Jt(S)), S - apply_J(eye_like(X))

    def _project(self, X: Tensor, *, atol=None, max_iter=100) -> Tensor:
        """X P^{-1/2} with P = J_p^T X^T J_n X (in float64, then back to X's dtype)."""
        Y = X.double()
        try:
            Z = Y @ _inv_sqrt(apply_Jt(self._S(Y)), self.name)
            if not bool((self.violation(Z) < 1e-6).all()):
                raise ProjectionError("inaccurate square root")
        except ProjectionError:  # P has eigenvalues on the negative axis: no principal root
            Z = Y @ _skew_frame(self._S(Y), self.name)
        # A second pass (P is now ~ I) removes the first one's rounding error.
        return (Z @ _inv_sqrt(apply_Jt(self._S(Z)), self.name)).to(X.dtype)

    def _random(self, shape, *, dtype, device, generator) -> Tensor:
        """``Q1 diag(e^t, e^-t) Q2 E``: Q1, Q2 orthosymplectic (Haar unitaries), t ~ N(0, 1/16).

        E picks columns 1..p, n+1..n+p; the small spread keeps points well conditioned.
        """
        *batch, rows, cols = shape
        n, p = rows // 2, cols // 2
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64

        def randn(*s: int, dt: torch.dtype = cdtype) -> Tensor:
            return torch.randn((*batch, *s), dtype=dt, device=device, generator=generator)

        U1, U2 = qr_unique(randn(n, n)), qr_unique(randn(n, p))
        t = 0.25 * randn(n, 1, dt=dtype)
        X = _orthosymplectic(U2)  # the columns 1..p, n+1..n+p of an orthosymplectic matrix
        X = torch.cat((t.exp() * X[..., :n, :], (-t).exp() * X[..., n:, :]), dim=-2)
        return (_orthosymplectic(U1) @ X).to(dtype)

    def example_shapes(self) -> list[tuple[int, ...]]:
        return [(4, 2), (4, 4)]

    def bad_shapes(self) -> list[tuple[int, ...]]:
        return [(), (4,), (3, 2), (4, 3), (2, 4)]


def _orthosymplectic(U: Tensor) -> Tensor:
    """``[[Re U, -Im U], [Im U, Re U]]`` for U with orthonormal columns: symplectic, orthonormal."""
    top = torch.cat((U.real, -U.imag), dim=-1)
    return torch.cat((top, torch.cat((U.imag, U.real), dim=-1)), dim=-2)


def _inv_sqrt(P: Tensor, name: str, max_iter: int = 60) -> Tensor:
    """P^{-1/2}, principal root, by the Denman-Beavers iteration (Y -> P^{1/2}, Z -> P^{-1/2})."""
    eye = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    Y, Z = P, eye.expand_as(P)
    for _ in range(max_iter):
        (Zi, info_z), (Yi, info_y) = torch.linalg.inv_ex(Z), torch.linalg.inv_ex(Y)
        if bool((info_z != 0).any() or (info_y != 0).any()):
            break
        Y, Z = 0.5 * (Y + Zi), 0.5 * (Z + Yi)
        res = float(torch.linalg.matrix_norm(Z @ Z @ P - eye).max())
        if res < 1e3 * torch.finfo(P.dtype).eps:
            return Z
        if not math.isfinite(res):
            break
    raise ProjectionError(
        f"{name}.project: the square root of J_p^T X^T J_n X did not converge (it has an "
        "eigenvalue on or near the negative real axis: X is far from the manifold or of the "
        "wrong orientation); start from a point closer to the manifold"
    )


def _skew_frame(S: Tensor, name: str) -> Tensor:
    """M with M^T S M = J_p for a nonsingular skew S, from the eigenvectors of the Hermitian iS.

    An eigenpair ``S u = -i s u`` (s > 0), ``u = a + i b``, gives ``S a = s b``, ``S b = -s a``,
    hence ``b^T S a = s/2``: the columns ``b sqrt(2/s)`` and ``a sqrt(2/s)`` form one
    symplectic pair; pairs from different eigenvectors are S-orthogonal.
    """
    w, U = torch.linalg.eigh(1j * S.to(torch.complex128))
    p = S.shape[-1] // 2
    s, U = w[..., p:], U[..., p:]
    if not bool((s > 1e-12 * s.amax(-1, keepdim=True).clamp_min(1e-300)).all()):
        raise ProjectionError(
            f"{name}.project: X^T J_n X is singular, X has no symplectic frame nearby"
        )
    U = U * (2.0 / s).sqrt().unsqueeze(-2)
    return torch.cat((U.imag, U.real), dim=-1)


