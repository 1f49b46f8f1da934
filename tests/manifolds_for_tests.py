"""Test-only manifolds defined by their constraint alone (they get the generic map)."""

import torch

from solvent.manifolds.base import Manifold


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
