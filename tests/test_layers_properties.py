"""Property tests over layer types and sizes (float64, small shapes, tolerances scaled by n*eps)."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import solvent
from solvent.layers import constraints

EPS = torch.finfo(torch.float64).eps


@st.composite
def layers(draw):
    """(module, input) for a drawn layer type and small sizes; wide and tall weights both occur."""
    kind = draw(st.sampled_from(["linear", "conv1d", "conv2d", "gru", "lstm", "lstmcell", "emb"]))
    a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    torch.manual_seed(draw(st.integers(0, 2**16)))
    if kind == "linear":
        return nn.Linear(a, b).double(), torch.randn(3, a, dtype=torch.float64)
    if kind == "conv1d":
        k = draw(st.integers(1, 3))
        return nn.Conv1d(a, b, k).double(), torch.randn(2, a, 4, dtype=torch.float64)
    if kind == "conv2d":
        g = draw(st.sampled_from([1, 2]))
        return nn.Conv2d(2 * a, 2 * b, 2, groups=g).double(), torch.randn(1, 2 * a, 3, 3).double()
    if kind == "gru":
        return nn.GRU(a, b, batch_first=True).double(), torch.randn(2, 3, a, dtype=torch.float64)
    if kind == "lstm":
        bi = draw(st.booleans())
        mod = nn.LSTM(a, b, num_layers=2, bidirectional=bi).double()
        return mod, torch.randn(3, 2, a, dtype=torch.float64)
    if kind == "lstmcell":
        return nn.LSTMCell(a, b).double(), torch.randn(2, a, dtype=torch.float64)
    return nn.Embedding(a + 3, b).double(), torch.tensor([[0, 1, a + 2]])


def _out(module, x):
    y = module(x)
    while isinstance(y, tuple):
        y = y[0]
    return y


def _tol(module):
    n = max(X.numel() for _, _, X in constraints(module))
    return 100 * n * EPS


@given(layers(), st.integers(1, 4))
def test_training_stays_finite_and_near_the_manifold(case, steps):
    module, x = case
    solvent.constrain(module, beta=1.0)
    assert max(solvent.violation(module).values()) <= _tol(module)
    start = {q: X.detach().clone() for q, _, X in constraints(module)}
    opt = torch.optim.SGD(module.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = _out(module, x).square().mean() + solvent.penalty(module)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(_out(module, x)).all()
    for q, d, X in constraints(module):
        move = float((X.detach() - start[q]).norm())
        # ||C(X + D)|| <= ||C(X)|| + 2||D|| + ||D||^2 for C = X^T X - I (per block)
        assert d.violation(X) <= 2 * move + move**2 + _tol(module)
    solvent.project_(module)
    assert max(solvent.violation(module).values()) <= _tol(module)


@given(layers(), st.floats(0.01, 0.5))
def test_project_snaps_any_perturbation_to_machine_precision(case, scale):
    module, _ = case
    solvent.constrain(module)
    with torch.no_grad():
        for _, _, X in constraints(module):
            X.add_(scale * torch.randn_like(X))
    solvent.project_(module)
    assert max(solvent.violation(module).values()) <= _tol(module)
    # the module now sees exactly the projected point: A(X) = X on the manifold
    for q, d, X in constraints(module):
        owner, _, name = q.rpartition(".")
        W = getattr(module.get_submodule(owner) if owner else module, name)
        torch.testing.assert_close(W, X.detach(), atol=math.sqrt(X.numel()) * 100 * EPS, rtol=0)


def test_training_a_small_constrained_model_reduces_the_loss():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    solvent.constrain(net, ["0.weight", "2.weight"], beta=0.5)
    x = torch.randn(64, 6, dtype=torch.float64)
    y = torch.sin(x[:, :3]) + 0.1 * x[:, 3:]
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    losses = []
    for _ in range(60):
        loss = nn.functional.mse_loss(net(x), y)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        (loss + solvent.penalty(net)).backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    assert max(solvent.violation(net).values()) < 0.05
