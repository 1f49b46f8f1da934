"""Properties of constrained layers that hold for every registered manifold a weight can take."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import solvent

SHAPES = [(4, 6), (4, 4)]  # nn.Linear(in, out): a tall and a square weight


def _cases():
    for name in solvent.available():
        for shape in SHAPES:
            try:
                solvent.constrain(nn.Linear(*shape).double(), manifold=name)
            except solvent.ConstraintShapeError:
                continue  # the manifold takes no weight of this shape (so, hyperbolic, ...)
            yield pytest.param(name, shape, id=f"{name}-{shape[0]}x{shape[1]}")


CASES = list(_cases())


def _seen(lin: nn.Linear) -> float:
    d = solvent.layers.dissolved_of(lin)["weight"]
    return float(d.manifold.violation(d.view.to_points(lin.weight.detach())).max())


def _tol(lin: nn.Linear) -> float:
    d = solvent.layers.dissolved_of(lin)["weight"]
    return solvent.layers.guard.bound(d, torch.float32)


def test_the_registry_gives_layer_cases():
    assert len({c.values[0] for c in CASES}) >= 6


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_a_drifted_weight_is_handed_over_feasible_and_x_is_reset(name, shape):
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(*shape).double(), manifold=name, beta=0.5)
    assert _seen(lin) <= _tol(lin)
    X = lin._parameters["weight"]
    x = torch.randn(3, shape[0], dtype=torch.float64)
    with torch.no_grad():
        X.add_(0.05 * torch.randn_like(X))
    seen = []
    hook = lin.register_forward_pre_hook(lambda m, a: seen.append(_seen(m)))
    (lin(x).square().sum() + solvent.penalty(lin)).backward()
    hook.remove()
    assert seen[0] <= _tol(lin)  # handed over within tolerance, however far X drifted
    d = solvent.layers.dissolved_of(lin)["weight"]
    tau = solvent.layers.guard.threshold(d, X.dtype)  # sqrt(tol): X past it is reset
    assert solvent.violation(lin)["weight"] <= tau


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_state_dict_round_trip_and_bake_keep_the_weight_seen(name, shape):
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(*shape).double(), manifold=name, beta=0.5)
    with torch.no_grad():
        lin._parameters["weight"].add_(1e-4)
    x = torch.randn(3, shape[0], dtype=torch.float64)
    out = lin(x)
    twin = solvent.constrain(nn.Linear(*shape).double(), manifold=name, beta=0.5)
    twin.load_state_dict(lin.state_dict())
    assert torch.equal(twin(x), out)
    torch.testing.assert_close(solvent.bake(twin)(x), out)
