"""Checkpoints, copies and torch.compile of constrained models."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

import solvent
from solvent.layers import constraints
from tests.test_layers_cases import CountingStiefel, first_tensor


class Net(nn.Module):
    """A small model with a constrained RNN, conv and linear head."""

    def __init__(self):
        super().__init__()
        self.rnn = solvent.constrain(nn.LSTM(3, 5, batch_first=True), beta=0.2)
        self.conv = solvent.constrain(nn.Conv1d(5, 4, 2), beta=0.1)
        self.head = solvent.constrain(nn.Linear(4, 2), beta=0.3)

    def forward(self, x):
        h = first_tensor(self.rnn(x))  # (B, T, 5)
        return self.head(self.conv(h.transpose(1, 2)).mean(-1))


def _trained(seed=0):
    torch.manual_seed(seed)
    net = Net().double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(2):
        loss = net(x).square().sum() + solvent.penalty(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net(x)  # leave a forward's tensors (nn.LSTM keeps its last weights) behind
    return net, x


def test_state_dict_round_trip_into_a_fresh_constrained_model(tmp_path):
    net, x = _trained()
    path = tmp_path / "ckpt.pt"
    torch.save(net.state_dict(), path)
    fresh = Net().double()
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(fresh(x), net(x))
    assert solvent.violation(fresh) == solvent.violation(net)


def test_assigning_a_weight_stores_its_projection_in_the_same_parameter():
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(3, 5).double())
    X = lin._parameters["weight"]
    W = torch.randn(5, 3, dtype=torch.float64)
    lin.weight = W
    expected = solvent.manifold("stiefel").project(W)
    assert lin._parameters["weight"] is X  # optimizers keep working
    torch.testing.assert_close(X.detach(), expected)
    torch.testing.assert_close(lin.weight.detach(), expected)
    W[0, 0] = float("nan")
    with pytest.raises(solvent.NonFiniteError, match=r"Linear\.weight.*1 non-finite"):
        lin.weight = W
    torch.testing.assert_close(X.detach(), expected)  # unchanged
    # a Parameter is a new X, set as torch sets it (frameworks such as FSDP2 swap them)
    lin.weight = nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
    assert lin._parameters["weight"] is not X
    assert solvent.violation(lin)["weight"] > 0.1  # reported, never hidden


@pytest.mark.parametrize(
    "clone",
    [
        copy.deepcopy,
        lambda m: pickle.loads(pickle.dumps(m)),
        lambda m: _torch_save_load(m),
    ],
    ids=["deepcopy", "pickle", "torch.save"],
)
def test_copies_are_equal_and_independent(clone):
    net, x = _trained()
    twin = clone(net)
    assert type(twin.rnn) is type(net.rnn)  # the same constrained class
    assert type(twin.rnn).__mro__[1] is nn.LSTM
    assert torch.equal(twin(x), net(x))
    assert solvent.violation(twin) == solvent.violation(net)
    with torch.no_grad():
        for _, _, X in constraints(twin):
            X.mul_(2.0)
    assert not torch.equal(twin(x), net(x))
    # the copy keeps every guarantee: one evaluation of A per forward, and it trains
    M = CountingStiefel()
    probe = clone(solvent.constrain(nn.GRU(3, 4), manifold=M))
    probe_M = solvent.layers.dissolved_of(probe)["weight_hh_l0"].manifold
    probe_M.maps = 0
    (first_tensor(probe(torch.randn(5, 1, 3))).sum() + solvent.penalty(probe)).backward()
    assert probe_M.maps == 1
    assert probe._parameters["weight_hh_l0"].grad is not None


def _torch_save_load(module):
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_baked_state_dict_loads_into_the_plain_architecture():
    net, x = _trained()
    out = net(x)
    state = solvent.bake(copy.deepcopy(net)).state_dict()
    plain = nn.ModuleDict(
        {
            "rnn": nn.LSTM(3, 5, batch_first=True),
            "conv": nn.Conv1d(5, 4, 2),
            "head": nn.Linear(4, 2),
        }
    ).double()
    plain.load_state_dict(state)
    h = first_tensor(plain["rnn"](x))
    torch.testing.assert_close(plain["head"](plain["conv"](h.transpose(1, 2)).mean(-1)), out)


def test_compiled_model_matches_eager_outputs_and_gradients():
    # backend="aot_eager": traces forward and backward through dynamo and AOTAutograd
    # without inductor's C++ compile, which is too slow on this 2-core machine.
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 6)).double()
    solvent.constrain(eager[0], beta=0.3)
    solvent.constrain(eager[2], beta=0.2)
    compiled_net = copy.deepcopy(eager)
    compiled = torch.compile(compiled_net, backend="aot_eager")
    x = torch.randn(3, 5, dtype=torch.float64)
    for model in (eager, compiled):
        for _ in range(2):  # a second call must not reuse anything stale
            (model(x).square().sum() + solvent.penalty(model)).backward()
    torch.testing.assert_close(compiled(x), eager(x))
    for (q, _, X), (_, _, Y) in zip(constraints(eager), constraints(compiled_net), strict=True):
        torch.testing.assert_close(Y.grad, X.grad, msg=q)


def test_activation_checkpointing_recomputes_the_same_weight():
    """torch.utils.checkpoint reruns the forward in backward: same A(X), same gradients."""
    from torch.utils.checkpoint import checkpoint

    net, x = _trained()
    solvent.project_(net)  # on the manifold: the guard leaves X alone between the backwards
    reference = {q: X for q, _, X in constraints(net)}
    net.zero_grad()
    net(x).sum().backward()
    expected = {q: X.grad.clone() for q, X in reference.items()}
    net.zero_grad()
    out = checkpoint(net, x, use_reentrant=False)
    torch.testing.assert_close(out, net(x))
    out.sum().backward()
    for q, X in reference.items():
        torch.testing.assert_close(X.grad, expected[q], msg=q)
