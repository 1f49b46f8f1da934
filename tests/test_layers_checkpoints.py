"""Checkpoint edges and deferred (meta-device) construction of constrained modules."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import solvent


def _state(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_bit_identical(module: nn.Module, before: dict) -> None:
    after = module.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k


def _trained_linear() -> nn.Module:
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(3, 5).double())
    with torch.no_grad():
        lin._parameters["weight"].add_(1e-3)  # slightly off, as after training
    return lin


@pytest.mark.parametrize(
    "bad",
    [
        {"weight": torch.randn(6, 3), "bias": torch.randn(5)},  # the constrained weight
        {"weight": torch.randn(5, 3), "bias": torch.randn(4)},  # a sibling, after the weight
    ],
    ids=["weight-size", "bias-size"],
)
def test_a_failed_load_leaves_the_module_bit_identical_and_warns_nothing(bad):
    lin = _trained_linear()
    before = _state(lin)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="size mismatch"):
            lin.load_state_dict({k: v.double() for k, v in bad.items()})
    _assert_bit_identical(lin, before)


def test_a_load_missing_a_key_under_strict_leaves_the_module_bit_identical():
    lin = _trained_linear()
    before = _state(lin)
    with pytest.raises(RuntimeError, match="Missing key"):
        lin.load_state_dict({"weight": torch.randn(5, 3, dtype=torch.float64)})
    _assert_bit_identical(lin, before)


@pytest.mark.parametrize("marked", [False, True], ids=["plain", "constrained"])
def test_a_non_finite_checkpoint_is_refused_before_anything_is_copied(marked):
    lin = _trained_linear()
    before = _state(lin)
    sd = _state(lin) if marked else {"weight": torch.randn(5, 3), "bias": torch.randn(5)}
    sd = {k: v.double() for k, v in sd.items()}
    sd["weight"][1, 2] = float("nan")
    with pytest.raises(solvent.NonFiniteError, match=r"Linear\.weight in the checkpoint.*1 non"):
        lin.load_state_dict(sd)
    _assert_bit_identical(lin, before)


def test_assign_true_never_writes_into_the_callers_tensors():
    lin = _trained_linear()
    torch.manual_seed(1)
    W = torch.randn(5, 3, dtype=torch.float64)
    sd = {"weight": W, "bias": torch.randn(5, dtype=torch.float64)}
    kept = W.clone()
    with pytest.warns(UserWarning, match="projected"):
        lin.load_state_dict(sd, assign=True)
    assert torch.equal(W, kept)
    assert lin._parameters["weight"].data_ptr() != W.data_ptr()
    assert solvent.violation(lin)["weight"] < 1e-12
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    lin(torch.randn(2, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    assert torch.equal(W, kept)


def test_a_module_built_on_meta_is_constrained_deferred_then_projected():
    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(4, 6), nn.LSTM(6, 3))
    solvent.constrain(net[0], beta=0.2)
    solvent.constrain(net[1])
    net.to_empty(device="cpu")
    torch.manual_seed(0)
    with pytest.raises(solvent.ConstraintError, match=r"meta device.*solvent\.project_"):
        net[0](torch.randn(2, 4))
    net[0].reset_parameters()  # an initialiser writes into X through module.weight
    net[1].reset_parameters()
    W = net[0].weight.detach().clone()
    solvent.project_(net)
    St = solvent.manifold("stiefel")
    torch.testing.assert_close(net[0].weight.detach(), St.project(W))  # the init, projected
    assert max(solvent.violation(net).values()) < 1e-5
    out = net[1](net[0](torch.randn(5, 2, 4)))[0]
    (out.sum() + solvent.penalty(net)).backward()
    assert torch.isfinite(net[0]._parameters["weight"].grad).all()
