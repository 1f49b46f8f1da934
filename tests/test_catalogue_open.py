"""The open-set chart manifolds: positive, spd, invertible, poincare_ball, birkhoff.

For each: the map lands in the set for every free variable (batched too), lift
is a right inverse, project lands in the set, gradients are right (float64
gradcheck), the Jacobian has the manifold's dimension as rank, torch.func
composes, and a problem with a closed-form optimum is solved to a relative
error <= 1e-8 in float64. Then a layer constrained to spd and one to positive
train with Adam and stay in their set.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import solvent
import solvent.optim
from solvent.exceptions import ManifoldDtypeError, ManifoldShapeError
from solvent.manifolds import Birkhoff, Invertible, PoincareBall, Positive
from solvent.manifolds.invertible import log_rotation
from solvent.manifolds.positive import inverse_softplus, softplus
from solvent.testing import well_conditioned

F64, C128 = torch.float64, torch.complex128
EPS = torch.finfo(F64).eps
seeds = st.integers(0, 2**31 - 1)
OPEN = {  # name -> (kwargs, a point shape)
    "positive": ({}, (3, 4)),
    "spd": ({}, (4, 4)),
    "invertible": ({}, (3, 3)),
    "poincare_ball": ({"c": 2.0}, (2, 3)),
    "birkhoff": ({}, (4, 4)),
}
COMPLEX = ["spd", "poincare_ball"]
CASES = [(name, F64) for name in OPEN] + [(name, C128) for name in COMPLEX]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def build(name):
    return solvent.manifold(name, **OPEN[name][0])


def randn(*shape, seed=0, dtype=F64):
    return torch.randn(shape, dtype=dtype, generator=gen(seed))


def ids(v):
    return str(v).replace("torch.", "")


def test_registered_as_chart_manifolds():
    for name in OPEN:
        M = build(name)
        assert name in solvent.available() and M.kind == "chart"
        assert M.free_shape(OPEN[name][1]) == OPEN[name][1]


# ----------------------------------------------------------------------------- the map


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=ids)
@given(seed=seeds, scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_map_lands_in_the_set_batched_and_per_point(name, dtype, seed, scale):
    M = build(name)
    Z = scale * randn(2, 3, *OPEN[name][1], seed=seed, dtype=dtype)
    X = M.dissolve(Z)
    assert X.shape == Z.shape and X.dtype == dtype
    assert M.check_point(X), M.check_point(X, explain=True)[1]
    assert float(M.violation(X).max()) <= 100 * X[0, 0].numel() * EPS
    per_point = torch.stack([M.dissolve(z) for z in Z.reshape(-1, *Z.shape[2:])])
    torch.testing.assert_close(X, per_point.reshape(X.shape), rtol=0, atol=1e-13)
    assert M.penalty(Z) == 0 and M.constraint(Z).shape == (*Z.shape[: Z.ndim - M.ndim], 0)


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=ids)
@given(seed=seeds)
def test_lift_is_a_right_inverse_and_project_lands_in_the_set(name, dtype, seed):
    M = build(name)
    shape = OPEN[name][1]
    X = M.random(2, *shape, dtype=dtype, generator=gen(seed))
    assert M.check_point(X)
    torch.testing.assert_close(M.dissolve(M.lift(X)), X, rtol=1e-12, atol=1e-12)
    P = M.project(3 * randn(2, *shape, seed=seed, dtype=dtype))
    assert M.check_point(P), M.check_point(P, explain=True)[1]
    torch.testing.assert_close(M.dissolve(M.lift(P)), P, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(M.project(X), X, rtol=1e-12, atol=1e-12)  # points stay put


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=ids)
def test_gradcheck_float64(name, dtype):
    M = build(name)
    Z = randn(2, *OPEN[name][1], seed=3, dtype=dtype).requires_grad_()
    assert torch.autograd.gradcheck(M.dissolve, (Z,))
    assert torch.autograd.gradgradcheck(M.dissolve, (Z,))


@pytest.mark.parametrize("name", list(OPEN))
def test_jacobian_rank_is_the_dimension(name):
    """A submersion onto an open set (or the Birkhoff interior): rank DA = dim M."""
    M = build(name)
    shape = OPEN[name][1]
    for seed in range(3):
        Z = randn(*shape, seed=seed)
        J = torch.autograd.functional.jacobian(M.dissolve, Z).reshape(Z.numel(), Z.numel())
        s = torch.linalg.svdvals(J)
        points = math.prod(shape[: len(shape) - M.ndim])
        assert int((s > 1e-10 * s[0]).sum()) == points * M.dimension(shape)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
@pytest.mark.parametrize("name", list(OPEN))
def test_torch_func_jvp_and_vmap(name):
    M = build(name)
    Z = randn(3, *OPEN[name][1], seed=4)
    V = randn(3, *OPEN[name][1], seed=5)
    _, jv = torch.func.jvp(M.dissolve, (Z,), (V,))
    h = 1e-6
    fd = (M.dissolve(Z + h * V) - M.dissolve(Z - h * V)) / (2 * h)
    torch.testing.assert_close(jv, fd, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(torch.func.vmap(M.dissolve)(Z), M.dissolve(Z))
    g = torch.func.vmap(torch.func.grad(lambda z: M.dissolve(z).square().sum()))(Z)
    G = torch.func.grad(lambda z: M.dissolve(z).square().sum())(Z)
    torch.testing.assert_close(g, G)


# ----------------------------------------------------------------------------- per manifold


def test_softplus_inverse_is_stable_over_the_whole_range():
    """Round trip to rounding times exp's condition number |log X| <= 700."""
    X = torch.tensor([1e-300, 1e-20, 1e-8, 0.3, 30.0, 700.0, 1e10], dtype=F64)
    torch.testing.assert_close(softplus(inverse_softplus(X)), X, rtol=1e3 * EPS, atol=0)


def test_positive_rejects_zeros_complex_and_bad_ndim():
    P = Positive(ndim=1)
    ok, reason = P.check_point(torch.tensor([1.0, 0.0], dtype=F64), explain=True)
    assert not ok and "not > 0" in reason
    with pytest.raises(ManifoldDtypeError, match="real"):
        P.dissolve(torch.ones(2, dtype=C128))
    with pytest.raises(ValueError, match="ndim"):
        Positive(ndim=0)


@pytest.mark.parametrize("name", ["spd", "invertible", "birkhoff"])
def test_square_manifolds_name_the_non_square_shape(name):
    with pytest.raises(ManifoldShapeError, match=r"\(3, 2\).*square"):
        build(name).dissolve(torch.zeros(3, 2, dtype=F64))


def test_spd_chart_ignores_the_upper_triangle_and_hermitian_points():
    M = build("spd")
    Z = randn(4, 4, seed=1, dtype=C128)
    torch.testing.assert_close(M.dissolve(Z), M.dissolve(Z.tril()))
    X = M.dissolve(Z)
    torch.testing.assert_close(X, X.mH)
    assert not M.check_point(-torch.eye(3, dtype=F64))


@pytest.mark.parametrize(
    "X",
    [
        torch.diag(torch.tensor([-1.0, -2.0], dtype=F64)),  # outside the image of expm
        -torch.eye(4, dtype=F64),  # a rotation by pi in two planes
        torch.diag(torch.tensor([-1.0, -1.0, 3.0], dtype=F64)),
    ],
    ids=["diag(-1,-2)", "-I4", "diag(-1,-1,3)"],
)
def test_invertible_reaches_matrices_expm_misses(X):
    M = Invertible()
    torch.testing.assert_close(M.dissolve(M.lift(X)), X, rtol=0, atol=1e-13)


@given(seed=seeds, gap=st.sampled_from([1e-3, 1e-6, 1e-9, 0.0]))
def test_log_rotation_near_a_half_turn(seed, gap):
    """K with exp(K) = Q also for a rotation within ``gap`` of pi in one plane."""
    K = torch.zeros(5, 5, dtype=F64)
    K[1, 0], K[3, 2] = torch.pi - gap, 1.3
    K = K - K.mT
    Q0 = well_conditioned(5, 5, cond=1.0, seed=seed)
    Q0 = Q0 * torch.linalg.det(Q0)  # det +1 (n odd)
    Q = Q0 @ torch.linalg.matrix_exp(K) @ Q0.mT
    torch.testing.assert_close(torch.linalg.matrix_exp(log_rotation(Q)), Q, rtol=0, atol=1e-8)


def test_invertible_project_moves_the_smallest_direction_across_zero():
    M = Invertible()
    X = torch.diag(torch.tensor([3.0, -0.5], dtype=F64))
    P = M.project(X)
    floor = 3.0 * EPS**0.5
    assert M.check_point(P) and float(M.violation(X)) == 0.5
    torch.testing.assert_close(P, torch.diag(torch.tensor([3.0, floor], dtype=F64)))


def test_poincare_ball_radius_and_curvature():
    B = PoincareBall(c=4.0)
    X = B.dissolve(1e3 * randn(5, 3, seed=2))  # tanh rounds to 1 here: the map stays inside
    assert bool((X.norm(dim=-1) < 0.5).all()) and B.check_point(X)
    assert not B.check_point(torch.tensor([0.5, 0.0], dtype=F64))  # on the boundary
    torch.testing.assert_close(B.dissolve(torch.zeros(3, dtype=F64)), torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="c > 0"):
        PoincareBall(c=0.0)


def test_birkhoff_gradient_is_the_implicit_one_for_spread_inputs():
    """Entries spread over 12 units need ~100 sweeps; the derivative is still exact."""
    Z = (4 * randn(4, 4, seed=6)).requires_grad_()
    assert torch.autograd.gradcheck(Birkhoff().dissolve, (Z,))
    X = Birkhoff().dissolve(Z)
    torch.testing.assert_close(X.sum(-1), torch.ones(4, dtype=F64), rtol=0, atol=1e-13)
    torch.testing.assert_close(X.sum(-2), torch.ones(4, dtype=F64), rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- known answers
# The known answers are solved by solvent.optim.minimize (L-BFGS over the free
# variable Z = lift(project(x0)) of h(Z) = f(dissolve(Z)); the result is
# x = dissolve(Z)). gtol = 1e-10 takes the error well below 1e-8.
GTOL = 1e-10


def solve(f, x0, M):
    """minimize's point, after asserting it reports success."""
    res = solvent.optim.minimize(f, x0, M, gtol=GTOL)
    assert res.success, res.message
    return res.x


def rel_err(X, Y):
    return float(torch.linalg.vector_norm(X - Y) / torch.linalg.vector_norm(Y))


def spd_matrix(n, seed, dtype=F64):
    W = well_conditioned(n, n, cond=3.0, seed=seed, dtype=dtype)
    return W @ W.mH


@pytest.mark.parametrize("seed", range(3))
def test_positive_known_answer(seed):
    c = 0.1 + 3 * torch.rand(3, 4, dtype=F64, generator=gen(seed))
    x0 = 0.1 + torch.rand(3, 4, dtype=F64, generator=gen(seed + 10))
    X = solve(lambda X: (X - c * torch.log(X)).sum(), x0, build("positive"))
    assert rel_err(X, c) <= 1e-8


@pytest.mark.parametrize(("seed", "dtype"), [(0, F64), (1, F64), (2, C128)])
def test_spd_known_answer(seed, dtype):
    S = spd_matrix(4, seed, dtype)
    M = build("spd")
    x0 = M.random(4, 4, dtype=dtype, generator=gen(seed))
    X = solve(lambda X: -torch.logdet(X).real + torch.trace(S @ X).real, x0, M)
    assert rel_err(X, torch.linalg.inv(S)) <= 1e-8


@pytest.mark.parametrize("seed", range(3))
def test_invertible_known_answer(seed):
    A = well_conditioned(3, 3, cond=4.0, seed=seed)
    A = A * torch.linalg.det(A).sign()  # det > 0 (n odd)
    M = build("invertible")
    x0 = M.random(3, 3, dtype=F64, generator=gen(seed))
    X = solve(lambda X: (torch.linalg.inv(X) - A).square().sum(), x0, M)
    assert rel_err(X, torch.linalg.inv(A)) <= 1e-8


def sinkhorn_plan(C, eps, sweeps=5000):
    """The entropic OT plan with unit marginals, by log-domain Sinkhorn on the duals."""
    a = torch.zeros(C.shape[0], dtype=C.dtype)
    b = torch.zeros(C.shape[1], dtype=C.dtype)
    for _ in range(sweeps):
        a = -eps * torch.logsumexp((b[None, :] - C) / eps, dim=1)
        b = -eps * torch.logsumexp((a[:, None] - C) / eps, dim=0)
    return torch.exp((a[:, None] + b[None, :] - C) / eps)


@pytest.mark.parametrize("seed", range(3))
def test_birkhoff_entropic_transport_known_answer(seed):
    C = torch.rand(4, 4, dtype=F64, generator=gen(seed))
    eps = 0.2
    plan = sinkhorn_plan(C, eps)
    M = build("birkhoff")
    x0 = M.random(4, 4, dtype=F64, generator=gen(seed))
    X = solve(lambda X: (C * X).sum() + eps * (X * (torch.log(X) - 1)).sum(), x0, M)
    assert rel_err(X, plan) <= 1e-8


@pytest.mark.parametrize("seed", range(3))
def test_poincare_ball_known_answer(seed):
    c = 2.0
    M = build("poincare_ball")
    p = M.random(3, dtype=F64, generator=gen(seed))
    p = 0.95 * p / (c**0.5 * p.norm())  # near the boundary
    x0 = M.random(3, dtype=F64, generator=gen(seed + 1))

    def f(x):  # 1 + f is cosh of the hyperbolic distance to p, up to p's constant factor
        return (x - p).square().sum() / (1 - c * x.square().sum())

    assert rel_err(solve(f, x0, M), p) <= 1e-8


def test_minimize_takes_chart_manifolds():
    c = 0.1 + 3 * torch.rand(6, dtype=F64, generator=gen(0))
    x0 = 0.1 + torch.rand(6, dtype=F64, generator=gen(1))
    res = solvent.optim.minimize(lambda x: (x - c * torch.log(x)).sum(), x0, Positive(ndim=1),
                                 gtol=GTOL)
    assert res.success and rel_err(res.x, c) <= 1e-8


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", ["spd", "positive"])
def test_layer_trains_with_adam_and_stays_in_the_set(name):
    torch.manual_seed(0)
    layer = solvent.constrain(torch.nn.Linear(4, 4, dtype=F64), "weight", name)
    M = solvent.manifold(name)
    target = M.random(4, 4, dtype=F64, generator=gen(7))
    x = randn(64, 4, seed=8)
    y = x @ target.mT
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    losses = []
    # The layer starts from its own weight projected onto the set: a random
    # Linear's weight has negative entries / eigenvalues, which land near the
    # boundary (softplus coordinates far negative), so the first ~150 steps
    # mostly walk back in; 300 steps reach 1e-4 of the first loss for both.
    for _ in range(300):
        loss = (layer(x) - y).square().mean() + solvent.penalty(layer)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        assert M.check_point(layer.weight.detach())
    assert losses[-1] < 1e-2 * losses[0]


@pytest.mark.parametrize("name", ["spd", "positive"])
def test_constrain_keeps_the_projected_weight(name):
    layer = torch.nn.Linear(4, 4, dtype=F64)
    expected = solvent.manifold(name).project(layer.weight.detach().clone())
    solvent.constrain(layer, "weight", name)
    torch.testing.assert_close(layer.weight.detach(), expected)
