"""Bad input to solvent.constrain fails at once, clearly, leaving the module exactly as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import solvent
from solvent.exceptions import ProjectionError
from solvent.manifolds.base import Manifold


class SquareOrthogonal(Manifold):
    """Test-local: square orthogonal matrices only (the generic map over C = X^T X - I)."""

    name = "test_square_orthogonal"

    def _constraint(self, X):
        return X.mT @ X - torch.eye(X.shape[-1], dtype=X.dtype)

    def check_shape(self, shape):
        super().check_shape(shape)
        if shape[-1] != shape[-2]:
            raise ValueError(f"{self.name} needs a square matrix, got {tuple(shape)}")


class RefusesWideRows(SquareOrthogonal):
    """Test-local: takes any matrix, but its projection fails for 3 columns."""

    name = "test_refuses"

    def check_shape(self, shape):
        Manifold.check_shape(self, shape)

    def _project(self, X, **_):
        if X.shape[-1] == 3:
            raise ProjectionError("test_refuses cannot project 3 columns")
        return solvent.manifold("stiefel").project(X)


def _snapshot(module):
    return type(module), {k: v.clone() for k, v in module.state_dict().items()}, [
        id(p) for p in module.parameters()
    ], dict(module._forward_pre_hooks)


def _assert_unchanged(module, snap):
    cls, state, ids, hooks = snap
    assert type(module) is cls and [id(p) for p in module.parameters()] == ids
    assert module.state_dict().keys() == state.keys()
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert dict(module._forward_pre_hooks) == hooks


class TwoWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.randn(4, 2))
        self.b = nn.Parameter(torch.randn(4, 3))
        self.steps = nn.Parameter(torch.zeros(3, 3, dtype=torch.long), requires_grad=False)


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (lambda: nn.Linear(3, 4), {"name": "wieght"}, r"no parameter 'wieght'.*weight, bias"),
        (lambda: nn.Linear(3, 5), {"manifold": SquareOrthogonal()}, r"Linear\.weight.*\(5, 3\)"),
        (lambda: nn.Linear(3, 4), {"beta": -1.0}, "beta must be"),
        (lambda: nn.Linear(3, 4), {"beta": float("nan")}, "beta must be"),
        (TwoWeights, {"name": ["a", "steps"]}, r"TwoWeights\.steps has dtype torch\.int64"),
        (TwoWeights, {"name": ["a", "a"]}, "named twice"),
        (lambda: nn.Linear(3, 4), {"name": lambda n: n == "nope"}, "no parameter"),
    ],
)
def test_bad_input_raises_and_leaves_module_untouched(make, kwargs, match):
    torch.manual_seed(0)
    module = make()
    snap = _snapshot(module)
    with pytest.raises(solvent.ConstraintError, match=match):
        solvent.constrain(module, **kwargs)
    _assert_unchanged(module, snap)


def test_infeasible_shape_error_names_everything():
    with pytest.raises(solvent.ConstraintShapeError) as err:
        solvent.constrain(nn.Conv2d(8, 4, 3), manifold=SquareOrthogonal())
    msg = str(err.value)
    for part in ("Conv2d.weight", "(4, 8, 3, 3)", "test_square_orthogonal", "square", "Way out"):
        assert part in msg


def test_already_constrained_raises_and_keeps_the_first_constraint():
    lin = solvent.constrain(nn.Linear(3, 4), beta=0.2)
    snap = _snapshot(lin)
    with pytest.raises(solvent.ConstraintError, match="already constrained"):
        solvent.constrain(lin, manifold="euclidean")
    _assert_unchanged(lin, snap)
    assert solvent.layers.dissolved_of(lin)["weight"].beta == 0.2


def test_unknown_manifold_uses_the_registry_error():
    lin = nn.Linear(3, 4)
    snap = _snapshot(lin)
    with pytest.raises(solvent.UnknownManifoldError, match="stiefle"):
        solvent.constrain(lin, manifold="stiefle")
    _assert_unchanged(lin, snap)


def test_failure_midway_rolls_back_earlier_registrations():
    torch.manual_seed(0)
    module = TwoWeights()
    snap = _snapshot(module)
    with pytest.raises(ProjectionError):
        solvent.constrain(module, ["a", "b"], RefusesWideRows())
    _assert_unchanged(module, snap)
    assert not solvent.is_constrained(module)
