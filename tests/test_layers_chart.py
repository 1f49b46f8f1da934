"""Chart manifolds on layers: the stored Parameter is Z, the module sees A(Z) in the weight's shape.

Two test-local charts: entrywise positive weights X = exp(Z) (Z has the
weight's shape) and PSD matrices of rank k as X = Y Y^T (Y is n x k: the
stored Parameter has another shape than the weight).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import solvent
from solvent.manifolds.base import ChartManifold


class Positive(ChartManifold):
    """Test-local: entrywise positive matrices, X = exp(Z)."""

    name = "test_positive"

    def _dissolve(self, Z):
        return Z.exp()

    def _lift(self, X):
        return X.log()

    def _violation(self, X):
        return torch.linalg.vector_norm(X.clamp(max=0).flatten(-2), dim=-1)

    def _project(self, X, *, atol, max_iter):
        return X.abs().clamp(min=1e-3)


class PSDRank(ChartManifold):
    """Test-local: n x n positive semidefinite matrices of rank k, X = Y Y^T with Y n x k."""

    name = "test_psd_rank"

    def __init__(self, k: int) -> None:
        self.k = k

    def check_shape(self, shape):
        super().check_shape(shape)
        if shape[-1] != shape[-2] or shape[-1] < self.k:
            raise ValueError(f"{self.name} needs a square matrix of size >= {self.k}, got {shape}")

    def _free_shape(self, shape):
        return (*shape[:-1], self.k)

    def _dissolve(self, Y):
        return Y @ Y.mT

    def _lift(self, X):
        w, V = torch.linalg.eigh(0.5 * (X + X.mT))
        return V[..., -self.k :] * w[..., -self.k :].clamp(min=0).sqrt().unsqueeze(-2)

    def _project(self, X, *, atol, max_iter):
        Y = self._lift(X)
        return Y @ Y.mT

    def _violation(self, X):
        P = self._project(X, atol=None, max_iter=0)
        return torch.linalg.vector_norm((X - P).flatten(-2), dim=-1)


def test_a_chart_whose_free_variable_has_another_shape():
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(4, 4).double(), manifold=PSDRank(2))
    Z = lin._parameters["weight"]
    assert Z.shape == (4, 2) and isinstance(Z, nn.Parameter)
    W = lin.weight
    assert W.shape == (4, 4)
    torch.testing.assert_close(W, Z @ Z.T)
    assert torch.linalg.matrix_rank(W.detach()) == 2
    sd = lin.state_dict()
    assert sd["weight"].shape == (4, 2) and "weight:solvent" in sd
    x = torch.randn(8, 4, dtype=torch.float64)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(5):
        loss = (lin(x) - x).square().mean() + solvent.penalty(lin)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(solvent.penalty(lin).detach()) == 0.0
    assert solvent.violation(lin)["weight"] < 1e-10
    twin = copy.deepcopy(lin)
    twin.load_state_dict(lin.state_dict())
    torch.testing.assert_close(twin(x), lin(x))
    seen = lin.weight.detach().clone()
    plain = solvent.bake(lin)
    assert type(plain) is nn.Linear and plain.weight.shape == (4, 4)
    torch.testing.assert_close(plain.weight.detach(), seen)
    fresh = nn.Linear(4, 4).double()
    fresh.load_state_dict(plain.state_dict())


def test_a_plain_checkpoint_loads_into_a_chart_as_coordinates():
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(4, 4).double(), manifold=PSDRank(2))
    B = torch.randn(4, 2, dtype=torch.float64)
    target = B @ B.T  # already on the manifold: loads silently, as coordinates
    lin.load_state_dict({"weight": target, "bias": torch.zeros(4, dtype=torch.float64)})
    assert lin._parameters["weight"].shape == (4, 2)
    torch.testing.assert_close(lin.weight.detach(), target)


@pytest.mark.parametrize("make", [lambda: nn.Conv1d(2, 3, 2), lambda: nn.LSTM(2, 3)],
                         ids=["conv1d", "lstm"])  # fmt: skip
def test_a_chart_with_the_weights_shape_keeps_the_plain_layout(make):
    torch.manual_seed(0)
    module = make().double()
    name = "weight" if isinstance(module, nn.Conv1d) else "weight_hh_l0"
    plain_shape = module._parameters[name].shape
    solvent.constrain(module, name, Positive())
    assert module._parameters[name].shape == plain_shape
    assert (getattr(module, name) > 0).all()
    x = torch.randn(3, 2, 5, dtype=torch.float64) if name == "weight" else torch.randn(5, 1, 2)
    out = module(x.double())
    out = out[0] if isinstance(out, tuple) else out
    out.sum().backward()
    assert module._parameters[name].grad is not None
    assert solvent.violation(module)[name] == 0.0
