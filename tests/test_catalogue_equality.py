"""symmetric, skew, complex_circle, sphere_subspace: formulas, the kit, and known optima.

Each known-answer test runs ``solvent.optim.minimize`` from a random start and
compares with the closed-form optimum to a relative error <= 1e-8 (float64).
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import solvent
from solvent.exceptions import ManifoldDtypeError, ManifoldParameterError, ManifoldShapeError
from solvent.optim import minimize
from solvent.testing import check_manifold

F64, C128 = torch.float64, torch.complex128
EPS = torch.finfo(F64).eps
DTYPES = [F64, torch.float32, C128]
seeds = st.integers(0, 2**31 - 1)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=F64):
    return torch.randn(shape, dtype=dtype, generator=gen(seed))


def orthonormal(n, r, seed, dtype=F64):
    return torch.linalg.qr(randn(n, r, seed=seed, dtype=dtype)).Q


def rel(a, b) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


# ----------------------------------------------------------------------------- the kit
# The registered defaults go through the kit in test_conformance; here the
# options that the defaults do not exercise.


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sphere_subspace_with_a_basis_conforms(dtype):
    M = solvent.manifold("sphere_subspace", basis=orthonormal(5, 3, seed=1))
    report = check_manifold(M, dtype=dtype, seed=4)
    assert report.ok, report.format()


def test_sphere_subspace_with_a_complex_basis_conforms_and_refuses_real_points():
    M = solvent.manifold("sphere_subspace", basis=orthonormal(4, 2, seed=2, dtype=C128))
    report = check_manifold(M, dtype=C128, seed=0)
    assert report.ok, report.format()
    assert not M.supports_real
    with pytest.raises(ManifoldDtypeError, match="sphere_subspace .* complex dtype"):
        M.dissolve(torch.ones(4, dtype=F64))
    with pytest.raises(ManifoldDtypeError, match="complex dtype"):
        M.random(4, dtype=F64)


# ----------------------------------------------------------------------------- formulas
@given(seed=seeds, dtype=st.sampled_from([F64, C128]))
def test_symmetric_and_skew_split_a_matrix(seed, dtype):
    S, K = solvent.manifold("symmetric"), solvent.manifold("skew")
    X = randn(2, 4, 4, seed=seed, dtype=dtype)
    A, B = S.dissolve(X), K.dissolve(X)
    assert torch.allclose(A + B, X, atol=10 * EPS)  # X = sym part + skew part
    assert torch.equal(A, A.mH) and torch.equal(B, -B.mH)
    assert float(S.violation(A).max()) == 0.0 and float(K.violation(B).max()) == 0.0
    assert torch.allclose(S.constraint(X), X - X.mH) and torch.allclose(K.constraint(X), X + X.mH)
    assert torch.allclose(S.project(X), A) and torch.allclose(K.project(X), B)


def test_symmetric_and_skew_need_square_matrices():
    for name in ("symmetric", "skew"):
        with pytest.raises(ManifoldShapeError, match=f"{name} .* square matrix per point, got 3x2"):
            solvent.manifold(name).dissolve(torch.zeros(3, 2))


@given(seed=seeds)
def test_complex_circle_map_and_pull_back(seed):
    M = solvent.manifold("complex_circle")
    z = randn(3, 5, seed=seed, dtype=C128)
    s = z.abs() ** 2
    assert torch.allclose(M.dissolve(z), 2 * z / (1 + s), atol=10 * EPS)
    C = M.constraint(z)
    assert torch.allclose(M.constraint(M.dissolve(z)), -(C**2) / (2 + C) ** 2, atol=100 * EPS)
    P = M.project(z)
    assert torch.allclose(P.abs(), torch.ones(3, 5, dtype=F64), atol=10 * EPS)
    assert torch.allclose(P * z.abs(), z, atol=100 * EPS)  # same phase


def test_complex_circle_zero_entries_and_real_signs():
    M = solvent.manifold("complex_circle")
    P = M.project(torch.tensor([0.0, -2.0, 3.0], dtype=F64))
    assert P.tolist() == [1.0, -1.0, 1.0]
    x = M.random(1000, dtype=F64, generator=gen(0))
    assert set(x.tolist()) == {-1.0, 1.0} and M.dimension((5,)) == 0
    assert M.dimension((5,), complex=True) == 5


@given(seed=seeds, dtype=st.sampled_from([F64, C128]))
def test_sphere_subspace_points_lie_in_the_span(seed, dtype):
    U = orthonormal(6, 2, seed=seed, dtype=dtype)
    M = solvent.manifold("sphere_subspace", basis=U)
    x = M.random(3, 6, dtype=dtype, generator=gen(seed))
    assert torch.allclose(x, (U @ (U.mH @ x.unsqueeze(-1))).squeeze(-1), atol=100 * EPS)
    assert torch.allclose(torch.linalg.vector_norm(x, dim=-1), torch.ones(3, dtype=F64))
    y = randn(6, seed=seed + 1, dtype=dtype)
    Py = U @ (U.mH @ y)
    assert torch.allclose(M.project(y), Py / torch.linalg.vector_norm(Py), atol=100 * EPS)
    assert torch.allclose(M.dissolve(y), 2 * Py / (1 + torch.linalg.vector_norm(Py) ** 2))


def test_sphere_subspace_rejects_bad_bases_and_shapes():
    with pytest.raises(ManifoldParameterError, match="not orthonormal"):
        solvent.manifold("sphere_subspace", basis=2 * orthonormal(4, 2, seed=0))
    with pytest.raises(ManifoldParameterError, match="1 <= r <= n"):
        solvent.manifold("sphere_subspace", basis=torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ManifoldParameterError, match="n x r floating matrix"):
        solvent.manifold("sphere_subspace", basis=torch.eye(3, dtype=torch.int64))
    M = solvent.manifold("sphere_subspace", basis=orthonormal(4, 2, seed=0))
    with pytest.raises(ManifoldShapeError, match="vectors of length 4"):
        M.dissolve(torch.zeros(5, dtype=F64))
    orthogonal = torch.linalg.qr(torch.cat([M.basis, randn(4, 1)], dim=1)).Q[:, 2]
    assert torch.allclose(M.project(orthogonal), M.basis[:, 0])  # no direction in span(U)


# ----------------------------------------------------------------------------- known optima
def test_nearest_symmetric_and_skew_matrix():
    """min 1/2 |X - B|^2 over symmetric (skew) X is (B + B^T) / 2 ((B - B^T) / 2)."""
    B = randn(6, 6, seed=3)
    for name, answer in (("symmetric", 0.5 * (B + B.T)), ("skew", 0.5 * (B - B.T))):
        res = minimize(lambda X: 0.5 * (X - B).square().sum(), manifold=name, shape=(6, 6),
                       seed=5)  # fmt: skip
        assert res.success, res.message
        assert rel(res.x, answer) <= 1e-8


def test_nearest_hermitian_matrix():
    B = randn(4, 4, seed=4, dtype=C128)
    res = minimize(lambda X: 0.5 * (X - B).abs().square().sum(), manifold="symmetric",
                   shape=(4, 4), dtype=C128, seed=1)  # fmt: skip
    assert res.success, res.message
    assert rel(res.x, 0.5 * (B + B.mH)) <= 1e-8


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rank_one_phase_synchronisation(seed):
    """max z^H (u u^H) z over unit-modulus z is n^2, reached at z = u e^{i phi}."""
    n = 8
    u = torch.polar(torch.ones(n, dtype=F64), 2 * torch.pi * torch.rand(n, dtype=F64,
                                                                          generator=gen(seed)))
    res = minimize(lambda z: -(u.conj() @ z).abs().square(), manifold="complex_circle",
                   shape=(n,), dtype=C128, seed=seed + 10)  # fmt: skip
    assert res.success, res.message
    assert abs(-res.fun - n**2) / n**2 <= 1e-8
    phase = (u.conj() @ res.x) / n
    assert rel(res.x, u * phase) <= 1e-6


@pytest.mark.parametrize("dtype", [F64, C128], ids=str)
def test_smallest_eigenvalue_on_a_subspace(dtype):
    """min x^H A x over unit x in span(U) is the smallest eigenvalue of U^H A U."""
    n, r = 8, 4
    G = randn(n, n, seed=6, dtype=dtype)
    A = G + G.mH
    U = orthonormal(n, r, seed=7, dtype=dtype)
    answer = float(torch.linalg.eigvalsh(U.mH @ A @ U)[0])
    res = minimize(lambda x: (x.conj() @ A @ x).real, manifold=solvent.manifold(
        "sphere_subspace", basis=U), shape=(n,), dtype=dtype, seed=8)  # fmt: skip
    assert res.success, res.message
    assert abs(res.fun - answer) / abs(answer) <= 1e-8
