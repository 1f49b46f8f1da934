"""Tied weights (one Parameter, several owners) and the ``solvent.cached()`` scope."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import solvent
from tests.test_layers_cases import CountingStiefel


class TiedLM(nn.Module):
    """An embedding tied to its decoder: one Parameter, two owners."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.dec = nn.Linear(4, 7, bias=False)
        self.dec.weight = self.emb.weight

    def forward(self, idx):
        return self.dec(self.emb(idx))


def test_every_owner_of_a_tied_parameter_sees_a_of_x():
    torch.manual_seed(0)
    model = TiedLM().double()
    solvent.constrain(model, "emb.weight", beta=0.5)
    X = model.emb._parameters["weight"]
    assert model.dec._parameters["weight"] is X  # still one Parameter
    with torch.no_grad():
        X.add_(1e-3 * torch.randn_like(X))
    A = model.emb.weight.detach()
    assert not torch.equal(A, X.detach())
    torch.testing.assert_close(model.dec.weight.detach(), A)
    idx = torch.tensor([[1, 2, 6]])
    torch.testing.assert_close(model(idx), A[idx] @ A.T)
    assert list(solvent.violation(model)) == ["emb.weight"]  # listed once
    St = solvent.manifold("stiefel")
    torch.testing.assert_close(solvent.penalty(model), 0.5 * St.penalty(X))  # counted once
    baked = solvent.bake(model)
    assert baked.dec.weight is baked.emb.weight and type(baked.dec) is nn.Linear
    torch.testing.assert_close(baked.emb.weight.detach(), A)


def test_tying_made_after_constrain_is_reported_by_violation_and_project():
    model = TiedLM()
    model.dec.weight = nn.Parameter(torch.randn(7, 4))  # untied
    solvent.constrain(model, "emb.weight")
    model.dec.weight = model.emb._parameters["weight"]  # tied later: dec would see X
    for call in (solvent.violation, solvent.project_):
        with pytest.raises(
            solvent.ConstraintError, match=r"dec\.weight.*emb\.weight.*computes with X"
        ):
            call(model)


class Recurrence(nn.Module):
    """A hand-written recurrence that reads its cell's weight at every step."""

    def __init__(self, manifold) -> None:
        super().__init__()
        self.cell = solvent.constrain(nn.Linear(5, 5, bias=False), manifold=manifold, beta=0.3)

    def forward(self, x):  # x: (time, batch, 5)
        h = torch.zeros_like(x[0])
        for x_t in x:
            h = torch.tanh(h @ self.cell.weight.T + x_t)
        return h


def test_cached_evaluates_each_map_once_per_scope_and_gives_the_same_gradients():
    torch.manual_seed(0)
    M = CountingStiefel()
    net = Recurrence(M).double()
    x = torch.randn(9, 3, 5, dtype=torch.float64)
    X = net.cell._parameters["weight"]
    M.maps = 0
    out = net(x)
    out.sum().backward()
    assert M.maps == 9  # one per read
    reference, X.grad = X.grad.clone(), None
    M.maps = M.constraints = 0
    with solvent.cached():
        out_cached = net(x)
        with solvent.cached():  # nested scopes share the outer cache
            _ = net.cell.weight
    (out_cached.sum() + 0 * solvent.penalty(net)).backward()
    assert (M.maps, M.constraints) == (1, 0)  # one map; the penalty reused its C(X)
    torch.testing.assert_close(out_cached, out)
    torch.testing.assert_close(X.grad, reference)
    M.maps = 0
    with solvent.cached():  # an in-place change of X inside the scope is noticed
        _ = net.cell.weight
        with torch.no_grad():
            X.mul_(1.001)
        _ = net.cell.weight
    assert M.maps == 2


def test_the_cache_belongs_to_its_thread_and_its_scope():
    import threading

    torch.manual_seed(0)
    M = CountingStiefel()
    net = Recurrence(M).double()
    with solvent.cached():
        _ = net.cell.weight
        seen = []
        t = threading.Thread(target=lambda: seen.append(solvent.layers.handover._here.cache))
        t.start()
        t.join()
    assert seen == [None]
    assert solvent.layers.handover._here.cache is None
