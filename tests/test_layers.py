"""solvent.constrain and friends over every supported layer type: feasibility, the shape
policy, gradients, the once-per-forward guarantee and the penalty."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import solvent
from solvent.layers import constraints
from tests.test_layers_cases import CASES, CountingStiefel, build, first_tensor

DTYPES = [torch.float32, torch.float64]
# torch's own notice for float32 LSTMs with proj_size on CPU; unrelated to solvent.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def _atol(dtype, n=64):
    return 100 * n * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_constrain_keeps_projected_weights_and_trains(case, dtype):
    module, args = build(case, dtype)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    solvent.constrain(module, beta=0.5)
    St = solvent.manifold("stiefel")
    for qname, d, X in constraints(module):
        # Registration keeps the module's own weight, projected: the polar factor of its view.
        expected = d.view.from_points(St.project(d.view.to_points(before[qname])))
        torch.testing.assert_close(X.detach(), expected)
        assert d.violation(X) < _atol(dtype)
        Y = d.view.to_points(getattr(module, qname))  # what the module sees
        eye = torch.eye(Y.shape[-1], dtype=dtype)
        torch.testing.assert_close(Y.mT @ Y, eye.expand_as(Y.mT @ Y), atol=_atol(dtype), rtol=0)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    start = {q: X.detach().clone() for q, _, X in constraints(module)}
    for _ in range(2):
        loss = first_tensor(module(*args)).square().mean() + solvent.penalty(module)
        opt.zero_grad()
        loss.backward()
        for _, _, X in constraints(module):
            assert X.grad is not None and torch.isfinite(X.grad).all()
        opt.step()
    assert torch.isfinite(first_tensor(module(*args))).all()
    for q, d, X in constraints(module):
        # ||C(X + D) - C(X)|| <= 2 ||D|| + ||D||^2 for C = X^T X - I: the steps alone bound it
        move = float((X.detach() - start[q]).norm())
        assert 0 < move and d.violation(X) <= 2 * move + move**2 + _atol(dtype)


@pytest.mark.parametrize("case", ["linear", "rnn", "lstm", "gru", "lstmcell", "mha", "conv2d_1x1"])
def test_one_evaluation_per_training_step(case):
    module, args = build(case, torch.float64)
    M = CountingStiefel()
    # the pure method: the guard (tested in test_layers_feasible.py) adds maps on drifted steps
    solvent.constrain(module, manifold=M, beta=0.3, keep_feasible=False)
    n = sum(1 for _ in constraints(module))
    opt = torch.optim.SGD(module.parameters(), lr=1e-2)
    for _ in range(3):
        M.maps = M.constraints = 0
        loss = first_tensor(module(*args)).sum() + solvent.penalty(module)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert M.maps == n  # one A(X) per constrained tensor per step
        assert M.constraints == 0  # the penalty reused the forward's C(X)


def test_default_names_cover_every_recurrent_weight():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    solvent.constrain(lstm)
    assert sorted(solvent.violation(lstm)) == [
        "weight_hh_l0", "weight_hh_l0_reverse", "weight_hh_l1", "weight_hh_l1_reverse"
    ]
    assert not solvent.is_constrained(lstm, "weight_ih_l0")
    assert solvent.is_constrained(nn.Sequential(lstm))


def test_gates_are_orthogonal_block_by_block():
    torch.manual_seed(1)
    lstm = solvent.constrain(nn.LSTM(3, 6, proj_size=2).double())
    W = lstm.weight_hh_l0  # 4 gates of 6x2
    assert W.shape == (24, 2)
    for g in W.split(6):
        torch.testing.assert_close(g.T @ g, torch.eye(2, dtype=torch.float64))
    gru = solvent.constrain(nn.GRUCell(2, 4).double(), ["weight_hh", "weight_ih"])
    for g in gru.weight_ih.split(4):  # 4x2 blocks: orthonormal columns
        torch.testing.assert_close(g.T @ g, torch.eye(2, dtype=torch.float64))


def test_wide_weight_is_constrained_through_its_transpose():
    conv = solvent.constrain(nn.Conv2d(64, 8, 1).double())
    W = conv.weight.reshape(8, 64)
    torch.testing.assert_close(W @ W.T, torch.eye(8, dtype=torch.float64))
    with pytest.raises(solvent.ConstraintShapeError, match=r"Conv2d\.weight.*\(8, 64, 1, 1\)"):
        solvent.constrain(nn.Conv2d(64, 8, 1), transpose=False)


def test_names_lists_predicates_and_dotted_paths():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 6, bias=False))
    solvent.constrain(net, lambda n: n.endswith("weight"), beta=0.2)
    assert sorted(solvent.violation(net)) == ["0.weight", "1.weight"]
    net2 = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 6))
    solvent.constrain(net2, ["1.weight", "0.weight"], solvent.manifold("stiefel"))
    assert sorted(solvent.violation(net2)) == ["0.weight", "1.weight"]


def test_vector_manifold_sees_the_whole_weight_as_one_point():
    lin = solvent.constrain(nn.Linear(5, 3).double(), manifold="sphere")
    torch.testing.assert_close(lin.weight.norm(), torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("name", [m for m in ("sphere", "oblique", "euclidean", "grassmann")])
def test_catalogue_manifolds_through_the_registry(name):
    module, args = build("lstm", torch.float64)
    solvent.constrain(module, manifold=name, beta=0.1)
    assert max(solvent.violation(module).values(), default=0.0) < 1e-10
    loss = first_tensor(module(*args)).sum() + solvent.penalty(module)
    loss.backward()
    assert all(torch.isfinite(X.grad).all() for _, _, X in constraints(module))


def test_gradient_is_that_of_the_dissolved_function():
    torch.manual_seed(0)
    lin = nn.Linear(3, 5).double()
    solvent.constrain(lin, beta=0.7, keep_feasible=False)  # h exactly, no guard
    X = lin._parameters["weight"]
    with torch.no_grad():
        X.add_(0.05 * torch.randn_like(X))  # off the manifold, so A and the penalty matter
    x = torch.randn(4, 3, dtype=torch.float64)
    loss = lin(x).square().sum() + solvent.penalty(lin)
    (g,) = torch.autograd.grad(loss, X)
    St = solvent.manifold("stiefel")

    def h(Z):
        return (x @ St.dissolve(Z).T + lin.bias).square().sum() + 0.7 * St.penalty(Z)

    torch.testing.assert_close(g, torch.func.grad(h)(X.detach()))


def test_penalty_sums_beta_times_penalty_and_is_zero_without_constraints():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4)).double()
    zero = solvent.penalty(net)
    assert zero.dtype == torch.float64 and zero.shape == () and float(zero) == 0.0
    solvent.constrain(net[0], beta=0.5)
    solvent.constrain(net[1], beta=2.0)
    for _, _, X in constraints(net):
        with torch.no_grad():
            X.mul_(1.1)
    St = solvent.manifold("stiefel")
    ref = 0.5 * St.penalty(net[0]._parameters["weight"]) + 2.0 * St.penalty(
        net[1]._parameters["weight"]
    )
    torch.testing.assert_close(solvent.penalty(net), ref)


def test_penalty_stays_correct_around_backward_steps_and_no_grad():
    module, args = build("rnn", torch.float64)
    M = CountingStiefel()
    solvent.constrain(module, manifold=M, beta=1.0)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    # forward, backward, then the penalty: the forward's graph is gone, so it recomputes
    first_tensor(module(*args)).sum().backward()
    M.constraints = 0
    solvent.penalty(module).backward()
    assert M.constraints == 4
    # a step changes X: a stale C must not be reused
    first_tensor(module(*args)).sum()
    opt.step()
    fresh = sum(M.penalty(X) for _, _, X in constraints(module))
    torch.testing.assert_close(solvent.penalty(module), fresh)
    # under no_grad the stashed C has no graph: the penalty must still be differentiable
    with torch.no_grad():
        module(*args)
    assert solvent.penalty(module).requires_grad


def test_double_calls_and_gradient_accumulation():
    module, args = build("gru", torch.float64)
    solvent.constrain(module)
    X = module._parameters["weight_hh_l0"]
    out1, out2 = first_tensor(module(*args)), first_tensor(module(*args))
    (out1.sum() + out2.sum()).backward()
    both = X.grad.clone()
    X.grad = None
    for _ in range(2):  # accumulation: two forward/backward passes before a step
        (first_tensor(module(*args)).sum() + solvent.penalty(module) * 0).backward()
    torch.testing.assert_close(X.grad, both)


def test_project_snaps_to_machine_precision():
    module, _ = build("lstm", torch.float64)
    solvent.constrain(module)
    for _, _, X in constraints(module):
        with torch.no_grad():
            X.add_(0.1 * torch.randn_like(X))
    assert max(solvent.violation(module).values()) > 1e-3
    solvent.project_(module)
    assert max(solvent.violation(module).values()) < 100 * 20 * torch.finfo(torch.float64).eps


def test_bake_and_unconstrain_keep_the_weight_the_module_saw():
    module, args = build("lstm", torch.float64)
    solvent.constrain(module)
    X = module._parameters["weight_hh_l0"]
    with torch.no_grad():
        X.add_(0.01)
    seen_in_forward = {}
    hook = module.register_forward_pre_hook(
        lambda m, a: seen_in_forward.update(w=m.weight_hh_l0.detach().clone())
    )
    out = first_tensor(module(*args))
    hook.remove()
    seen = seen_in_forward["w"]
    assert not torch.equal(seen, X.detach())  # the module saw A(X), not X
    solvent.unconstrain(module, "weight_hh_l0")
    assert module._parameters["weight_hh_l0"] is X  # the same Parameter: optimizers keep working
    torch.testing.assert_close(module.weight_hh_l0.detach(), seen)
    assert solvent.is_constrained(module) and not solvent.is_constrained(module, "weight_hh_l0")
    solvent.bake(module)
    assert type(module) is nn.LSTM and not solvent.is_constrained(module)
    assert not module._forward_pre_hooks and not module._forward_hooks
    torch.testing.assert_close(first_tensor(module(*args)), out)
    plain = nn.LSTM(3, 5, num_layers=2, bidirectional=True).double()
    plain.load_state_dict(module.state_dict())
    torch.testing.assert_close(first_tensor(plain(*args)), out)
    with pytest.raises(solvent.ConstraintError, match="not constrained"):
        solvent.unconstrain(module, "weight_hh_l0")


def test_a_x_never_outlives_a_forward_even_one_that_raises():
    module, args = build("lstm", torch.float64)
    solvent.constrain(module)

    def clean() -> bool:  # no frame is left, and no graph-carrying weight is left behind
        return not solvent.layers.handover._here.frames and all(
            w is None or w.grad_fn is None for w in module._flat_weights
        )

    first_tensor(module(*args)).sum().backward()
    assert clean()
    with pytest.raises(RuntimeError):
        module(torch.randn(4, 2, 7, dtype=torch.float64))  # wrong input size
    assert clean()
    # outside a forward, the weight is A(X) evaluated afresh, so it sees in-place changes of X
    d = solvent.layers.dissolved_of(module)["weight_hh_l0"]
    X = module._parameters["weight_hh_l0"]
    with torch.no_grad():
        X.mul_(1.01)
    torch.testing.assert_close(module.weight_hh_l0, d.weight(X))
    # and so does the next forward
    X = module._parameters["weight_hh_l0"]
    with torch.no_grad():
        X.mul_(2.0)
    seen = {}
    hook = module.register_forward_pre_hook(lambda m, a: seen.update(w=m.weight_hh_l0))
    module(*args)
    hook.remove()
    d = solvent.layers.dissolved_of(module)["weight_hh_l0"]
    torch.testing.assert_close(seen["w"], d.weight(X))
