"""The factorised chart manifolds: fixed_rank, psd_fixed_rank, elliptope.

Each is proven here from the maths: the map lands in the set for any free
variable (batched, real and complex), lift is a right inverse of the map,
project gives a point of the set, the map's gradients are right (float64
gradcheck), its Jacobian has the set's dimension as rank, and a problem with a
known optimum (Eckart-Young, top-k eigen truncation, the max-cut SDP certified
by duality) is solved from a random start to a relative error <= 1e-8.

Where the free variable's shape differs from the point's (psd_fixed_rank and
elliptope store an n x k factor), the public ``dissolve`` still validates its
argument as a point, so these tests call the hook ``_dissolve`` on factors.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import solvent
from solvent.exceptions import ManifoldParameterError, ManifoldShapeError

F64, C128 = torch.float64, torch.complex128
DTYPES = [F64, C128]
NAMES = ["fixed_rank", "psd_fixed_rank", "elliptope"]
seeds = st.integers(0, 2**31 - 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def free_variable(M, shape, dtype, seed):
    """A Gaussian free variable for points of ``shape`` (batch dimensions allowed)."""
    return torch.randn(M.free_shape(shape), dtype=dtype, generator=gen(seed))


def relerr(X, Y) -> float:
    return float((torch.linalg.matrix_norm(X - Y) / torch.linalg.matrix_norm(Y)).max())


def orthonormal(n, k, seed, dtype=F64):
    Q, R = torch.linalg.qr(torch.randn(n, k, dtype=dtype, generator=gen(seed)))
    return Q * torch.sgn(R.diagonal()).unsqueeze(-2)


# ----------------------------------------------------------------------------- the maps


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds)
def test_map_lands_in_the_set_batched(name, dtype, seed):
    M = solvent.manifold(name, rank=2)
    shape = (3, 2, 6, 6) if name != "fixed_rank" else (3, 2, 7, 5)
    X = M._dissolve(free_variable(M, shape, dtype, seed))
    assert X.shape == shape and X.dtype == dtype
    assert float(M.violation(X).max()) < 1e-12 * max(1.0, float(X.abs().max()))
    assert all(M.check_point(x) for x in X.reshape(-1, *shape[-2:]))
    assert (torch.linalg.matrix_rank(X) == 2).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds)
def test_lift_is_a_right_inverse(name, dtype, seed):
    M = solvent.manifold(name, rank=3)
    shape = (2, 7, 7) if name != "fixed_rank" else (2, 8, 6)
    X = M.random(*shape, dtype=dtype, generator=gen(seed))
    Z = M.lift(X)
    assert Z.shape == M.free_shape(shape)
    assert relerr(M._dissolve(Z), X) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds)
def test_project_gives_a_point_and_fixes_points(name, dtype, seed):
    M = solvent.manifold(name, rank=2)
    shape = (2, 5, 5) if name != "fixed_rank" else (2, 6, 5)
    W = torch.randn(shape, dtype=dtype, generator=gen(seed))
    P = M.project(W)
    assert all(M.check_point(p) for p in P)
    X = M.random(*shape, dtype=dtype, generator=gen(seed + 1))
    assert relerr(M.project(X), X) < 1e-12


def test_projections_are_the_nearest_points():
    """fixed_rank: Eckart-Young truncation; psd_fixed_rank: top-k eigenpairs, negatives cut."""
    P = orthonormal(6, 4, 0)
    Q = orthonormal(5, 4, 1)
    W = P @ torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=F64)) @ Q.mT
    best = P[:, :2] @ torch.diag(torch.tensor([4.0, 3.0], dtype=F64)) @ Q[:, :2].mT
    FR = solvent.manifold("fixed_rank", rank=2)
    assert relerr(FR.project(W), best) < 1e-13
    assert abs(float(FR.violation(W)) - 5.0**0.5) < 1e-13
    w = torch.tensor([-5.0, 3.0, 2.0, 1.0], dtype=F64)
    S = P @ torch.diag(w) @ P.mT
    PSD = solvent.manifold("psd_fixed_rank", rank=2)
    assert relerr(PSD.project(S), P[:, 1:3] @ torch.diag(w[1:3]) @ P[:, 1:3].mT) < 1e-13
    assert abs(float(PSD.violation(S)) - 26.0**0.5) < 1e-13


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_map_gradcheck_float64(name, dtype):
    M = solvent.manifold(name, rank=2)
    shape = (4, 4) if name != "fixed_rank" else (5, 4)
    Z = free_variable(M, shape, dtype, 0).requires_grad_()
    assert torch.autograd.gradcheck(M._dissolve, (Z,))
    assert torch.autograd.gradgradcheck(M._dissolve, (Z,))


@pytest.mark.parametrize("name", NAMES)
def test_jacobian_rank_is_the_dimension(name):
    """The map is a submersion at a random point: rank DA = dim M (real case)."""
    M = solvent.manifold(name, rank=2)
    shape = (5, 5) if name != "fixed_rank" else (6, 4)
    Z = free_variable(M, shape, F64, 3)
    J = torch.autograd.functional.jacobian(M._dissolve, Z).reshape(*shape, -1).flatten(0, 1)
    assert int(torch.linalg.matrix_rank(J)) == M._dimension(shape, False)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.script` is deprecated:FutureWarning")
def test_torch_func_vmap_and_jvp_through_the_maps():
    """(torch builds its forward-mode decompositions with the deprecated jit.script once.)"""
    for name in NAMES:
        M = solvent.manifold(name, rank=2)
        shape = (3, 5, 5) if name != "fixed_rank" else (3, 6, 4)
        Z = free_variable(M, shape, F64, 4)
        assert torch.allclose(torch.func.vmap(M._dissolve)(Z), M._dissolve(Z), atol=1e-14)
        dZ = torch.randn_like(Z)
        _, tangent = torch.func.jvp(M._dissolve, (Z,), (dZ,))
        fd = (M._dissolve(Z + 1e-6 * dZ) - M._dissolve(Z - 1e-6 * dZ)) / 2e-6
        assert torch.allclose(tangent, fd, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(seed=seeds)
def test_compact_fixed_rank_store(dtype, seed):
    """rows=m: the free variable is [U; V], (m + n) x k, with the same map and lift."""
    M = solvent.manifold("fixed_rank", rank=2, rows=7)
    assert M.free_shape((3, 7, 5)) == (3, 12, 2)
    X = M._dissolve(free_variable(M, (3, 7, 5), dtype, seed))
    assert X.shape == (3, 7, 5) and float(M.violation(X).max()) < 1e-12 * float(X.abs().max())
    P = M.random(3, 7, 5, dtype=dtype, generator=gen(seed))
    Z = M.lift(P)
    assert Z.shape == (3, 12, 2) and relerr(M._dissolve(Z), P) < 1e-12
    assert torch.allclose(Z[..., :7, :] @ Z[..., 7:, :].mH, P, atol=1e-12)


def test_compact_fixed_rank_gradcheck_and_jacobian_rank():
    M = solvent.manifold("fixed_rank", rank=2, rows=5)
    Z = free_variable(M, (5, 4), F64, 0).requires_grad_()
    assert torch.autograd.gradcheck(M._dissolve, (Z,))
    J = torch.autograd.functional.jacobian(M._dissolve, Z.detach()).reshape(20, -1)
    assert int(torch.linalg.matrix_rank(J)) == M._dimension((5, 4), False)


def test_compact_fixed_rank_refuses_other_row_counts():
    M = solvent.manifold("fixed_rank", rank=2, rows=8)
    with pytest.raises(ManifoldShapeError, match=r"m = rows = 8.*transpose"):
        M.random(12, 8)
    with pytest.raises(ManifoldParameterError, match="rows must be a positive int"):
        solvent.manifold("fixed_rank", rank=2, rows=0)


def test_factor_free_variables_are_smaller():
    """psd_fixed_rank / elliptope keep n x k numbers per n x n point."""
    for name in ["psd_fixed_rank", "elliptope"]:
        assert solvent.manifold(name, rank=3).free_shape((2, 10, 10)) == (2, 10, 3)
    assert solvent.manifold("fixed_rank", rank=3).free_shape((10, 8)) == (10, 8)
    assert solvent.manifold("fixed_rank", rank=3, rows=10).free_shape((10, 8)) == (18, 3)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rank", [0, -1, 1.5, True, "2"])
def test_bad_rank_is_refused_naming_the_manifold(name, rank):
    with pytest.raises(ManifoldParameterError, match=f"{name}.*rank must be a positive int"):
        solvent.manifold(name, rank=rank)


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_are_refused(name):
    M = solvent.manifold(name, rank=3)
    for shape in M.bad_shapes():
        with pytest.raises(ValueError, match=name):
            M.random(*shape)


def test_fixed_rank_storage_limit_explains_the_fix():
    with pytest.raises(ManifoldShapeError, match=r"use rank <= 1 for 3 x 3"):
        solvent.manifold("fixed_rank", rank=2).random(3, 3)


def test_rank_deficient_points_are_not_on_fixed_rank_sets():
    X = torch.zeros(6, 5, dtype=F64)
    X[0, 0] = 1.0
    ok, why = solvent.manifold("fixed_rank", rank=2).check_point(X, explain=True)
    assert not ok and "rank below 2" in why
    ok, why = solvent.manifold("psd_fixed_rank", rank=2).check_point(X[:5], explain=True)
    assert not ok and "rank below 2" in why
    assert solvent.manifold("fixed_rank", rank=2).check_point(
        solvent.manifold("fixed_rank", rank=2).project(X)
    )


def test_elliptope_refuses_a_wrong_diagonal():
    M = solvent.manifold("elliptope", rank=2)
    X = 2.0 * M.random(4, 4, dtype=F64, generator=gen(0))
    ok, why = M.check_point(X, explain=True)
    assert not ok and "violation" in why
    assert M.check_point(M.project(X))


# ----------------------------------------------------------------------------- known answers


GTOL = 1e-10  # takes the relative error (and the max-cut duality gap) well below 1e-8


def solve(f, x0, M):
    """solvent.optim.minimize's point (L-BFGS over Z = lift(project(x0)), x = A(Z)),
    after asserting it reports success."""
    res = solvent.optim.minimize(f, x0, M, gtol=GTOL)
    assert res.success, res.message
    return res.x


def sqdist(A):
    return lambda X: torch.linalg.matrix_norm(X - A).square()


@pytest.mark.parametrize("rows", [None, 9], ids=["packed", "compact"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eckart_young_truncation(dtype, seed, rows):
    """min ||X - A||^2 over rank-3 matrices is A's truncated SVD (both free-variable stores)."""
    m, n, k = 9, 7, 3
    P, Q = orthonormal(m, n, seed, dtype), orthonormal(n, n, seed + 10, dtype)
    s = torch.tensor([5.0, 4.0, 3.0, 1.0, 0.6, 0.3, 0.1], dtype=F64).to(dtype)
    A = P @ torch.diag(s) @ Q.mH
    best = P[:, :k] @ torch.diag(s[:k]) @ Q[:, :k].mH
    M = solvent.manifold("fixed_rank", rank=k, rows=rows)
    X = solve(sqdist(A), M.random(m, n, dtype=dtype, generator=gen(seed)), M)
    assert relerr(X, best) <= 1e-8


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_eigen_truncation(dtype, seed):
    """min ||X - A||^2 over PSD rank-3 matrices keeps A's 3 largest (positive) eigenpairs."""
    n, k = 8, 3
    Q = orthonormal(n, n, seed, dtype)
    w = torch.tensor([4.0, 3.0, 2.0, 0.5, -0.2, -0.4, -0.7, -1.0], dtype=F64)
    A = Q @ torch.diag(w).to(dtype) @ Q.mH
    best = Q[:, :k] @ torch.diag(w[:k]).to(dtype) @ Q[:, :k].mH
    M = solvent.manifold("psd_fixed_rank", rank=k)
    X = solve(sqdist(A), M.random(n, n, dtype=dtype, generator=gen(seed)), M)
    assert relerr(X, best) <= 1e-8


def maxcut_laplacian(n, seed):
    G = torch.rand(n, n, dtype=F64, generator=gen(seed)) < 0.5
    W = torch.triu(G, 1).to(F64)
    W = W + W.mT
    return torch.diag(W.sum(1)) - W


def maxcut_certificate(C, X):
    """The SDP max <C, X>, diag X = 1, X PSD: primal value and a duality-gap bound at X.

    nu_i = (C X)_ii makes S = Diag(nu) - C the dual slack with sum(nu) = <C, X>; any
    negative eigenvalue of S is absorbed by nu -> nu + |lambda_min| 1, a dual-feasible
    point, so the optimum lies in [<C, X>, <C, X> + n |lambda_min(S)|].
    """
    nu = (C @ X).diagonal()
    low = float(torch.linalg.eigvalsh(torch.diag(nu) - C).min())
    return float(torch.trace(C @ X)), C.shape[0] * max(0.0, -low)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elliptope_maxcut_reaches_the_certified_sdp_optimum(seed):
    """Burer-Monteiro at rank k with k(k+1)/2 > n: the optimum is the SDP's, proven by duality."""
    n, k = 20, 7
    C = maxcut_laplacian(n, seed) / 4
    M = solvent.manifold("elliptope", rank=k)
    X = solve(lambda X: -torch.trace(C @ X), M.random(n, n, dtype=F64, generator=gen(seed)), M)
    assert M.check_point(X)
    value, gap = maxcut_certificate(C, X)
    assert gap <= 1e-8 * value


# ----------------------------------------------------------------------------- training


def test_adam_over_the_fixed_rank_free_variable_stays_rank_k():
    """The chart itself trains: Adam on Z with the weight A(Z), rank 2 at every step."""
    torch.manual_seed(0)
    M = solvent.manifold("fixed_rank", rank=2)
    Z = nn.Parameter(M.lift(M.project(torch.randn(8, 12, dtype=F64))))
    teacher = torch.randn(8, 2, dtype=F64) @ torch.randn(2, 12, dtype=F64)
    x = torch.randn(256, 12, dtype=F64)
    opt = torch.optim.Adam([Z], lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        W = M._dissolve(Z)
        loss = (x @ (W - teacher).mT).square().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        s = torch.linalg.svdvals(W.detach())
        assert float(s[2]) <= 1e-12 * float(s[0]) and float(s[1]) > 1e-6 * float(s[0])
    assert losses[-1] < 1e-3 * losses[0]


def test_fixed_rank_layer_trains_with_adam_and_stays_rank_k():
    torch.manual_seed(0)
    lin = nn.Linear(12, 8).double()
    W0 = lin.weight.detach().clone()
    M = solvent.manifold("fixed_rank", rank=2)
    solvent.constrain(lin, "weight", M)

    def weight():
        with torch.no_grad():
            return (lin(torch.eye(12, dtype=F64)) - lin.bias).mT

    assert relerr(weight(), M.project(W0)) < 1e-12  # the module keeps its own weight
    teacher = torch.randn(8, 2, dtype=F64) @ torch.randn(2, 12, dtype=F64)
    x = torch.randn(256, 12, dtype=F64)
    opt = torch.optim.Adam(lin.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = (lin(x) - x @ teacher.mT).square().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        s = torch.linalg.svdvals(weight())
        assert float(s[2]) <= 1e-12 * float(s[0]) and float(s[1]) > 1e-6 * float(s[0])
    assert losses[-1] < 0.05 * losses[0]


# ----------------------------------------------------------------------------- examples

EXAMPLE_CASES = [
    ("fixed_rank_approximation", []),
    ("fixed_rank_completion", ["--m", "30", "--n", "25", "--k", "2", "--p", "0.6"]),
    ("psd_fixed_rank_approximation", ["--n", "40"]),
    ("psd_gaussian_mixture", ["--n", "400"]),
    ("elliptope_correlation", []),
    ("elliptope_maxcut", ["--n", "12", "--k", "5"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "args"), EXAMPLE_CASES, ids=[c[0] for c in EXAMPLE_CASES])
def test_factor_example_meets_its_own_check(script, args, monkeypatch, capsys):
    """Each example exits 0 only when it reaches its closed form or certificate."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    assert importlib.import_module(script).main(["--seed", "1", *args]) == 0, capsys.readouterr()
