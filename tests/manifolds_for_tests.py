"""Test-only manifolds: equality ones given by their constraint alone (the generic map), and
toy chart manifolds."""

import torch

from solvent.exceptions import ManifoldShapeError
from solvent.manifolds.base import ChartManifold, Manifold


class SymmetricStiefel(Manifold):
    """C(X) = X^H X - I, the full symmetric constraint (redundant: half its rows repeat)."""

    name = "test_symmetric_stiefel"

    def _constraint(self, X):
        return X.mH @ X - torch.eye(X.shape[-1], dtype=X.dtype, device=X.device)

    def check_shape(self, shape):
        super().check_shape(shape)
        if shape[-2] < shape[-1]:
            raise ValueError(f"{self.name} needs n >= p, got shape {tuple(shape)}")

    def example_shapes(self):
        return [(3, 2), (3, 3), (4, 1)]

    def bad_shapes(self):
        return [(), (2, 3)]


class UnitCircleRows(Manifold):
    """Each row on the unit circle, via a non-polynomial constraint: C = log(|x|^2)."""

    name = "test_log_sphere_rows"
    supports_complex = False

    def _constraint(self, X):
        return torch.log(X.square().sum(-1))

    def example_shapes(self):
        return [(3, 2), (2, 4)]


# ----------------------------------------------------------------------------- chart kind
# Toy chart manifolds for the kit (the real ones are built-ins): one whose free
# variable has the point's shape, one whose free variable is a factor.


class ExpPositive(ChartManifold):
    """Vectors with positive entries, X = exp(Z) entrywise: an open set and a chart onto it."""

    name = "test_exp_positive"
    ndim = 1
    supports_complex = False

    def _dissolve(self, Z):
        return torch.exp(Z)

    def _lift(self, X):
        return torch.log(X)

    def _violation(self, X):
        return torch.linalg.vector_norm(torch.relu(-X), dim=-1)

    def _check_point(self, X):
        return None if bool((X > 0).all()) else f"{self.name}: an entry is not > 0"

    def _project(self, X, *, atol=None, max_iter=100):
        return X.clamp_min(torch.finfo(X.dtype).tiny ** 0.5)

    def _dimension(self, shape, complex):
        return shape[-1]


class RankOneGram(ChartManifold):
    """n x n Hermitian PSD matrices of rank one, X = y y^H from a free n x 1 factor y."""

    name = "test_rank_one_gram"
    ndim = 2

    def check_shape(self, shape):
        super().check_shape(shape)
        if shape[-1] != shape[-2]:
            raise ManifoldShapeError(self.name, shape, "a square matrix per point")

    def _free_shape(self, shape):
        return (*shape[:-1], 1)

    def _point_shape(self, free_shape):
        if len(free_shape) < 2 or free_shape[-1] != 1:
            raise ManifoldShapeError(
                self.name, free_shape, "a free variable of shape (..., n, 1): the factor y"
            )
        return (*free_shape[:-1], free_shape[-2])

    def _dissolve(self, Y):
        return Y @ Y.mH

    def _eig(self, X):
        return torch.linalg.eigh(0.5 * (X + X.mH))

    def _lift(self, X):
        lam, V = self._eig(X)
        return V[..., -1:] * lam[..., -1:, None].clamp_min(0).sqrt().to(V.dtype)

    def _violation(self, X):
        lam, _ = self._eig(X)
        skew = torch.linalg.matrix_norm(X - X.mH)
        rest = torch.linalg.vector_norm(lam[..., :-1], dim=-1)
        return skew + rest + torch.relu(-lam[..., -1])

    def _project(self, X, *, atol=None, max_iter=100):
        return self._dissolve(self._lift(X))

    def _dimension(self, shape, complex):
        n = shape[-1]
        return 2 * n - 1 if complex else n

    def example_shapes(self):
        return [(3, 3), (4, 4)]

    def bad_shapes(self):
        return [(), (3,), (3, 2)]

    def bad_free_shapes(self):
        return [(), (3,), (3, 2)]
