"""On the manifold by default: the weight a constrained module sees stays feasible.

The runs are the ones that drifted before the guard (Note [keep feasible] in
solvent.layers.guard): Adam at lr 1e-2 with a tiny beta, or with the penalty
left out of the loss. Each is also run with ``keep_feasible=False`` to show the
drift is real (the pure penalty method), so the guarded assertions can fail.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import solvent
from tests.test_layers_cases import CountingStiefel


def _seen_violation(module: nn.Module, name: str) -> float:
    """||C(W)|| of the weight the module reads (worst gate block)."""
    d = solvent.layers.dissolved_of(module)[name]
    W = getattr(module, name).detach()
    return float(d.manifold.violation(d.view.to_points(W)).max())


def _tolerance(module: nn.Module, name: str) -> float:
    """The guard's bound: 100 n eps at float32 precision for small weights (0.0122 at 32 x 32)."""
    d = solvent.layers.dissolved_of(module)[name]
    return solvent.layers.guard.bound(d, torch.float32)


def _train_linear(beta: float, with_penalty: bool, keep: bool, steps: int = 300) -> nn.Module:
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(32, 32), beta=beta, keep_feasible=keep)
    x, y = torch.randn(64, 32), torch.randn(64, 32)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = (lin(x) - y).square().mean()
        if with_penalty:
            loss = loss + solvent.penalty(lin)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lin


@pytest.mark.parametrize(
    ("beta", "with_penalty"), [(0.01, True), (1.0, False)], ids=["beta=0.01", "penalty-left-out"]
)
def test_linear_trained_with_adam_ends_on_the_manifold(beta, with_penalty):
    guarded = _train_linear(beta, with_penalty, keep=True)
    tol = _tolerance(guarded, "weight")  # 0.0122 for a float32 32 x 32 weight
    assert _seen_violation(guarded, "weight") <= tol
    bare = _train_linear(beta, with_penalty, keep=False)
    assert _seen_violation(bare, "weight") > 1.0  # measured 2.95 and 4.2: the drift is real


@pytest.mark.parametrize("keep", [True, False], ids=["guarded", "pure-penalty"])
def test_lstm_trained_without_the_penalty(keep):
    torch.manual_seed(0)
    lstm = solvent.constrain(nn.LSTM(8, 16), beta=1.0, keep_feasible=keep)
    x, y = torch.randn(10, 16, 8), torch.randn(16, 16)
    opt = torch.optim.Adam(lstm.parameters(), lr=1e-2)
    for _ in range(150):
        loss = (lstm(x)[0][-1] - y).square().mean()  # the penalty forgotten
        opt.zero_grad()
        loss.backward()
        opt.step()
    seen = _seen_violation(lstm, "weight_hh_l0")
    if keep:
        assert seen <= _tolerance(lstm, "weight_hh_l0")
    else:
        assert seen > 1.0  # the cubic map amplifies a drifting X


def test_every_forward_of_a_drifting_run_is_handed_a_feasible_weight():
    torch.manual_seed(1)
    lin = solvent.constrain(nn.Linear(16, 16), beta=0.0)  # no penalty at all
    x = torch.randn(32, 16)
    opt = torch.optim.Adam(lin.parameters(), lr=2e-2)
    tol = _tolerance(lin, "weight")
    seen = []
    lin.register_forward_pre_hook(lambda m, a: seen.append(_seen_violation(m, "weight")))
    for _ in range(40):
        loss = lin(x).sin().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert max(seen) <= tol, max(seen)


def test_near_the_manifold_the_guard_costs_nothing_and_the_gradient_is_the_cdf_s():
    """Below the threshold one map per step and h's exact gradient; past it, X is reset."""
    torch.manual_seed(0)
    M = CountingStiefel()
    lin = solvent.constrain(nn.Linear(6, 6).double(), manifold=M, beta=0.5)
    X = lin._parameters["weight"]
    x = torch.randn(4, 6, dtype=torch.float64)
    with torch.no_grad():
        X.add_(1e-4 * torch.randn_like(X))  # ||C|| ~ 1e-4: under tau (about 0.02 here)
    start = X.detach().clone()
    M.maps = 0
    loss = lin(x).square().sum() + solvent.penalty(lin)
    (g,) = torch.autograd.grad(loss, X)
    assert M.maps == 1
    St = solvent.manifold("stiefel")
    expected = torch.func.grad(
        lambda Z: (x @ St.dissolve(Z).T + lin.bias).square().sum() + 0.5 * St.penalty(Z)
    )(start)
    torch.testing.assert_close(g, expected)
    for scale in (0.05, 0.5):  # off, then far off (the map alone would not come back)
        with torch.no_grad():
            X.add_(scale * torch.randn_like(X))
        lin(x).square().sum().backward()  # the guard resets X after backward
        assert solvent.violation(lin)["weight"] <= _tolerance(lin, "weight"), scale
        assert _seen_violation(lin, "weight") <= _tolerance(lin, "weight"), scale


def test_keep_feasible_false_is_the_pure_penalty_method():
    torch.manual_seed(0)
    lin = solvent.constrain(nn.Linear(5, 5).double(), keep_feasible=False)
    X = lin._parameters["weight"]
    with torch.no_grad():
        X.add_(0.2 * torch.randn_like(X))
    before = X.detach().clone()
    d = solvent.layers.dissolved_of(lin)["weight"]
    torch.testing.assert_close(lin.weight, d.evaluate(X)[0])  # one map, however far off
    lin(torch.randn(3, 5, dtype=torch.float64)).sum().backward()
    assert torch.equal(X.detach(), before)  # backward never touches X


def test_the_device_path_resets_x_by_a_device_side_select(monkeypatch):
    """The CUDA branch (flags never read on the host) run on the CPU: X is still pulled back."""
    from solvent.layers import guard

    monkeypatch.setattr(guard, "_on_host", lambda X: False)
    guarded = _train_linear(1.0, with_penalty=False, keep=True, steps=100)
    bare = _train_linear(1.0, with_penalty=False, keep=False, steps=100)
    # without the forward's extra maps the weight seen is off by the last step's O(drift^2)
    assert _seen_violation(guarded, "weight") < 0.1 * _seen_violation(bare, "weight")
    assert solvent.violation(guarded)["weight"] < 0.1 * solvent.violation(bare)["weight"]
