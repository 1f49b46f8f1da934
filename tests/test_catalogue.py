"""Manifold-specific properties of the built-in catalogue (generic contract: test_conformance)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import solvent
from solvent.exceptions import ManifoldShapeError, ProjectionError
from solvent.manifolds import ManifoldParameterError, is_closed_form
from solvent.manifolds.symplectic_stiefel import apply_J
from solvent.testing import check_manifold, well_conditioned

F64 = torch.float64
EPS = torch.finfo(F64).eps
seeds = st.integers(0, 2**31 - 1)
CATALOGUE = [
    "euclidean",
    "stiefel",
    "sphere",
    "oblique",
    "grassmann",
    "generalized_stiefel",
    "hyperbolic",
    "lorentz",
    "symplectic_stiefel",
    "so",
    "product",
    "symmetric",
    "skew",
    "complex_circle",
    "sphere_subspace",
]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=F64):
    return torch.randn(shape, dtype=dtype, generator=gen(seed))


def spd(n, seed):
    """A well-conditioned SPD matrix: Q diag(1..10) Q^T."""
    W = well_conditioned(n, n, cond=10.0, seed=seed)
    return W @ W.mT


def indefinite(signs, seed):
    Q = well_conditioned(len(signs), len(signs), cond=1.0, seed=seed)
    scale = torch.linspace(1.0, 3.0, len(signs), dtype=F64)
    return Q @ torch.diag(torch.tensor(signs, dtype=F64) * scale) @ Q.mT


def test_catalogue_names_registered_with_closed_forms():
    names = set(solvent.available())
    assert set(CATALOGUE) <= names
    assert all(is_closed_form(solvent.manifold(n)) for n in CATALOGUE)


# ----------------------------------------------------------------------------- sphere, oblique


@given(seed=seeds, ndim=st.integers(1, 2), dtype=st.sampled_from([F64, torch.complex128]))
def test_sphere_map_formula_and_projection(seed, ndim, dtype):
    S = solvent.manifold("sphere", ndim=ndim)
    X = randn(2, 3, 4, seed=seed, dtype=dtype)
    dims = tuple(range(-ndim, 0))
    sq = (X.abs() ** 2).sum(dims, keepdim=True)
    assert torch.allclose(S.dissolve(X), 2 * X / (1 + sq), atol=10 * EPS)
    assert S.constraint(X).shape == X.shape[: X.ndim - ndim]
    P = S.project(X)
    assert torch.allclose((P.abs() ** 2).sum(dims), torch.ones((), dtype=F64), atol=100 * EPS)
    assert torch.allclose(S.project(P), P, atol=100 * EPS)
    # C(A(X)) = -C^2 / (2 + C)^2, exactly
    C = S.constraint(X)
    assert torch.allclose(S.constraint(S.dissolve(X)), -(C**2) / (2 + C) ** 2, atol=100 * EPS)


def test_sphere_whole_matrix_and_zero_point():
    S = solvent.manifold("sphere", ndim=2)
    assert S.violation(S.random(5, 4, 3, dtype=F64)).shape == (5,)
    P = S.project(torch.zeros(2, 3, dtype=F64))
    assert float(P.norm()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sphere"):
        solvent.manifold("sphere", ndim=0)
    with pytest.raises(ValueError, match="sphere"):
        S.constraint(torch.zeros(3, dtype=F64))


@given(seed=seeds, dtype=st.sampled_from([F64, torch.complex128]))
def test_oblique_is_the_sphere_row_by_row(seed, dtype):
    Ob, S = solvent.manifold("oblique"), solvent.manifold("sphere")
    X = randn(2, 4, 3, seed=seed, dtype=dtype)
    assert torch.allclose(Ob.dissolve(X), S.dissolve(X), atol=10 * EPS)
    assert torch.allclose(Ob.constraint(X), S.constraint(X))
    R = Ob.random(2, 4, 3, dtype=dtype, generator=gen(seed))
    assert R.dtype == dtype and torch.allclose(
        torch.linalg.vector_norm(R, dim=-1), torch.ones(2, 4, dtype=F64)
    )


@given(seed=seeds, n=st.integers(1, 4))
def test_unitary_frames_complex(seed, n):
    """Square complex Stiefel is U(n): random is unitary and a fixed point of the map."""
    St = solvent.manifold("stiefel")
    U = St.random(2, n, n, dtype=torch.complex128, generator=gen(seed))
    eye = torch.eye(n, dtype=torch.complex128)
    assert torch.allclose(U.mH @ U, eye.expand(2, n, n), atol=100 * n * EPS)
    assert torch.allclose(St.dissolve(U), U, atol=100 * n * EPS)


# ----------------------------------------------------------------------------- so, grassmann


@given(seed=seeds, n=st.integers(2, 4))
def test_so_random_and_project_have_det_plus_one(seed, n):
    SO = solvent.manifold("so")
    R = SO.random(3, 2, n, n, dtype=F64, generator=gen(seed))
    assert torch.allclose(torch.linalg.det(R), torch.ones(3, 2, dtype=F64), atol=100 * EPS)
    X = randn(4, n, n, seed=seed)
    P = SO.project(X)
    assert torch.allclose(torch.linalg.det(P), torch.ones(4, dtype=F64), atol=100 * n * EPS)
    assert SO.check_point(P)
    # Where X already has det > 0 the nearest rotation is the polar factor.
    U, _, Vh = torch.linalg.svd(X)
    pos = torch.linalg.det(X) > 0
    assert torch.allclose(P[pos], (U @ Vh)[pos], atol=100 * n * EPS)
    # A reflection is not in SO(n), and the map keeps the component near SO(n).
    F = R[0, 0].clone()
    F[:, 0] = -F[:, 0]
    ok, reason = SO.check_point(F, explain=True)
    assert not ok and "det" in reason
    Y = R + 0.05 * randn(3, 2, n, n, seed=seed + 1)
    assert bool((torch.linalg.det(SO.dissolve(Y)) > 0).all())


def test_so_rejects_rectangular_and_complex():
    SO = solvent.manifold("so")
    with pytest.raises(ValueError, match="square"):
        SO.random(3, 2)
    with pytest.raises(TypeError, match="so"):
        SO.dissolve(torch.eye(2, dtype=torch.complex128))


@given(seed=seeds)
def test_grassmann_map_is_equivariant(seed):
    Gr = solvent.manifold("grassmann")
    X = randn(5, 2, seed=seed)
    Q = solvent.manifold("so").random(2, 2, dtype=F64, generator=gen(seed))
    assert torch.allclose(
        Gr.dissolve(X @ Q), Gr.dissolve(X) @ Q, atol=1e3 * EPS * float(X.norm()) ** 3
    )


# ----------------------------------------------------------------------------- B-orthonormality


@given(seed=seeds, n=st.integers(2, 4), dtype=st.sampled_from([F64, torch.complex128]))
def test_generalized_stiefel_tensor_and_callable_agree(seed, n, dtype):
    B = spd(n, seed)
    Mt = solvent.manifold("generalized_stiefel", B=B)
    Mf = solvent.manifold("generalized_stiefel", B=lambda X: B.to(X.dtype) @ X)
    p = 1 + seed % n
    X = randn(2, n, p, seed=seed, dtype=dtype)
    assert torch.allclose(Mt.constraint(X), Mf.constraint(X), atol=100 * EPS)
    assert torch.allclose(Mt.dissolve(X), Mf.dissolve(X), atol=100 * EPS)
    C = Mt.constraint(X)  # C(A(X)) = -3/4 C^2 + 1/4 C^3 for any X
    tol = 1e3 * EPS * (1 + float(C.abs().max())) ** 3
    assert torch.allclose(Mt.constraint(Mt.dissolve(X)), -0.75 * C @ C + 0.25 * C @ C @ C, atol=tol)
    for M in (Mt, Mf):
        Y = M.random(3, n, p, dtype=dtype, generator=gen(seed))
        gram = Y.mH @ B.to(dtype) @ Y
        assert torch.allclose(gram, torch.eye(p, dtype=dtype).expand(3, p, p), atol=1e3 * EPS)
        assert torch.allclose(M.project(Y), Y, atol=1e3 * EPS)


def test_generalized_stiefel_conforms_with_a_nontrivial_B():
    S = spd(4, 1)  # drawn once: a B callable must be a fixed linear map (and vmap-able)
    for B in (S, lambda X: S.to(X.dtype) @ X):
        report = check_manifold(
            solvent.manifold("generalized_stiefel", B=B), shapes=[(4, 2)], seed=2
        )
        assert report.ok, report.format()


@pytest.mark.parametrize(
    ("B", "match"),
    [
        (torch.ones(3, 2, dtype=F64), "square"),
        (torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=F64), "symmetric"),
        (torch.diag(torch.tensor([1.0, -1.0], dtype=F64)), "positive definite"),
        ("B", "tensor, a callable"),
    ],
)
def test_generalized_stiefel_rejects_bad_B(B, match):
    with pytest.raises(ManifoldParameterError, match=match):
        solvent.manifold("generalized_stiefel", B=B)


def test_generalized_stiefel_shape_must_match_B():
    M = solvent.manifold("generalized_stiefel", B=spd(3, 0))
    with pytest.raises(ManifoldShapeError, match="3 rows to match B"):
        M.constraint(torch.zeros(4, 2, dtype=F64))


@given(seed=seeds)
def test_hyperbolic_with_an_indefinite_B(seed):
    B = indefinite([1, -1, 1, -1, 1], seed)
    H = solvent.manifold("hyperbolic", B=B)
    X = H.random(2, 5, 3, dtype=F64, generator=gen(seed))
    assert torch.allclose(X.mT @ B @ X, torch.eye(3, dtype=F64).expand(2, 3, 3), atol=1e4 * EPS)
    assert torch.allclose(H.project(X), X, atol=1e4 * EPS)
    Y = X + 0.1 * randn(2, 5, 3, seed=seed + 1)
    assert H.check_point(H.project(Y), atol=1e-10)
    C = H.constraint(Y)  # the same exact pull-back identity as generalized Stiefel
    assert torch.allclose(H.constraint(H.dissolve(Y)), -0.75 * C @ C + 0.25 * C @ C @ C, atol=1e-10)


def test_hyperbolic_default_B_and_errors():
    H = solvent.manifold("hyperbolic")
    X = H.random(6, 3, dtype=F64, generator=gen(0))
    J = torch.zeros(6, 6, dtype=F64)
    J[:3, 3:], J[3:, :3] = torch.eye(3), torch.eye(3)
    assert torch.allclose(X.mT @ J @ X, torch.eye(3, dtype=F64), atol=1e3 * EPS)
    with pytest.raises(ValueError, match="n even"):
        H.random(5, 2)
    with pytest.raises(ValueError, match="p <= n/2"):
        H.random(4, 3)
    with pytest.raises(ManifoldParameterError, match="nonsingular"):
        solvent.manifold("hyperbolic", B=torch.diag(torch.tensor([1.0, 0.0], dtype=F64)))
    with pytest.raises(ManifoldParameterError, match="no positive eigenvalue"):
        solvent.manifold("hyperbolic", B=-torch.eye(2, dtype=F64))
    with pytest.raises(ValueError, match="positive eigenvalues"):
        solvent.manifold("hyperbolic", B=indefinite([1, -1, -1], 0)).random(3, 2)


# ----------------------------------------------------------------------------- lorentz, symplectic


@given(seed=seeds)
def test_lorentz_rows_on_the_upper_sheet(seed):
    L = solvent.manifold("lorentz")
    X = L.random(2, 3, 4, dtype=F64, generator=gen(seed))
    mink = X[..., 1:].square().sum(-1) - X[..., 0].square()
    assert torch.allclose(mink, -torch.ones(2, 3, dtype=F64), atol=100 * EPS) and bool(
        (X[..., 0] > 0).all()
    )
    Y = X + 0.1 * randn(2, 3, 4, seed=seed + 1)
    c = L.constraint(Y)  # A(x) = x (3 + <x,x>_L) / 2 and C(A(x)) = 3/4 c^2 + 1/4 c^3, exactly
    assert torch.allclose(L.dissolve(Y), Y * (1 + c / 2).unsqueeze(-1), atol=100 * EPS)
    assert torch.allclose(L.constraint(L.dissolve(Y)), 0.75 * c**2 + 0.25 * c**3, atol=1e3 * EPS)
    assert L.check_point(L.project(Y))
    ok, reason = L.check_point(-X, explain=True)
    assert not ok and "lower sheet" in reason


def test_lorentz_needs_a_time_coordinate():
    with pytest.raises(ValueError, match="d \\+ 1 >= 2"):
        solvent.manifold("lorentz").constraint(torch.zeros(3, 1, dtype=F64))


@given(seed=seeds, n=st.integers(1, 3), data=st.data())
def test_symplectic_map_pull_back_identity(seed, n, data):
    """C(A(X)) = 3/4 C J C + 1/4 C J C J C exactly, for any X (so quadratic near M)."""
    p = data.draw(st.integers(1, n))
    Sp = solvent.manifold("symplectic_stiefel")
    X = Sp.random(2, 2 * n, 2 * p, dtype=F64, generator=gen(seed)) + 0.1 * randn(
        2, 2 * n, 2 * p, seed=seed
    )
    C = Sp.constraint(X)
    Jp = apply_J(torch.eye(2 * p, dtype=F64))
    expected = 0.75 * C @ Jp @ C + 0.25 * C @ Jp @ C @ Jp @ C
    assert torch.allclose(Sp.constraint(Sp.dissolve(X)), expected, atol=1e4 * EPS)
    Z = Sp.random(2 * n, 2 * p, dtype=F64, generator=gen(seed))
    assert torch.allclose(Z.mT @ apply_J(Z), Jp, atol=1e3 * EPS)
    assert torch.allclose(Sp.project(Z), Z, atol=1e3 * EPS)


def test_symplectic_project_of_a_wrongly_oriented_frame():
    """X^T J X = -J_p: no principal root of P = -I, the eigenvector fallback still lands on M."""
    Sp = solvent.manifold("symplectic_stiefel")
    X = Sp.random(6, 4, dtype=F64, generator=gen(3))
    flipped = X[:, [2, 3, 0, 1]]
    P = Sp.project(flipped)
    assert Sp.check_point(P)
    with pytest.raises(ProjectionError, match="singular"):
        Sp.project(torch.zeros(4, 2, dtype=F64))


@pytest.mark.parametrize("shape", [(3, 2), (4, 3), (2, 4), (4,)])
def test_symplectic_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="symplectic_stiefel"):
        solvent.manifold("symplectic_stiefel").random(*shape)


# ----------------------------------------------------------------------------- product


@given(seed=seeds)
def test_product_penalty_is_the_sum_and_parts_act_alone(seed):
    Ob, St = solvent.manifold("oblique"), solvent.manifold("stiefel")
    P = solvent.manifold("product", manifolds=("oblique", St))
    assert P.manifolds == (Ob, St)
    X = (randn(2, 3, 2, seed=seed), randn(2, 4, 2, seed=seed + 1))
    assert torch.allclose(P.penalty(X), Ob.penalty(X[0]) + St.penalty(X[1]))
    A = P.dissolve(X)
    assert torch.equal(A[0], Ob.dissolve(X[0])) and torch.equal(A[1], St.dissolve(X[1]))
    assert P.constraint(X).shape == (2, 3 + 4)
    v2 = Ob.violation(X[0]) ** 2 + St.violation(X[1]) ** 2
    assert torch.allclose(P.violation(X) ** 2, v2)
    R = P.random((2, 3, 2), (2, 4, 2), dtype=F64, generator=gen(seed))
    assert P.check_point(R) and P.check_point(P.project(X))


def test_product_complex_and_conformance():
    P = solvent.manifold("product", manifolds=("sphere", "so"))
    assert not P.supports_complex
    report = check_manifold(P, seed=1)
    assert report.ok, report.format()
    Q = solvent.manifold("product", manifolds=("sphere", "oblique"))
    X = Q.random((3,), (2, 2), dtype=torch.complex128, generator=gen(0))
    C = Q.constraint(X)
    assert not C.is_complex() and Q.check_point(X)


def test_product_of_a_matrix_euclidean_factor_beside_a_vector_factor():
    """Factors of any point dimension share the batch dimensions."""
    E2 = solvent.manifold("euclidean", ndim=2)
    P = solvent.manifold("product", manifolds=(E2, "sphere"))
    X = P.random((2, 4, 3), (2, 5), dtype=F64, generator=gen(0))
    assert [tuple(x.shape) for x in X] == [(2, 4, 3), (2, 5)]
    assert P.violation(X).shape == (2,) and P.constraint(X).shape == (2, 1)
    assert P.free_shape(((4, 3), (5,))) == ((4, 3), (5,))
    report = check_manifold(P, seed=0)
    assert report.ok, report.format()
    with pytest.raises(ValueError, match="euclidean needs ndim >= 1"):
        solvent.manifold("euclidean", ndim=0)


def test_product_class_takes_instances_and_the_registry_resolves_names():
    from solvent.manifolds import Product, Sphere

    with pytest.raises(TypeError, match="takes Manifold instances, got 'sphere'"):
        Product(("sphere",))
    assert Product((Sphere(),)).manifolds == (Sphere(),)
    assert solvent.manifold("product", manifolds=("sphere",)) == Product((Sphere(),))
    with pytest.raises(TypeError, match=r"write manifolds=\('sphere',\)"):
        solvent.manifold("product", manifolds="sphere")


def test_manifold_files_do_not_import_the_registry():
    """The registry imports the manifolds, never the reverse (only the package's lazy
    ``available`` forward names it)."""
    from pathlib import Path

    src = Path(solvent.manifolds.__file__).parent
    offenders = [p.name for p in src.glob("*.py")
                 if "solvent.plugins" in p.read_text() and p.name != "__init__.py"]  # fmt: skip
    assert offenders == []


def test_product_bad_input():
    P = solvent.manifold("product", manifolds=("sphere", "stiefel"))
    with pytest.raises(ValueError, match="tuple of 2 free variables"):
        P.constraint(torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="tuple of 2 points"):
        P.violation(torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="one shape per factor"):
        P.random((3,))
    with pytest.raises(ValueError, match="same batch"):
        P.constraint((torch.ones(2, 3, dtype=F64), torch.ones(3, 4, 2, dtype=F64)))
    with pytest.raises(ValueError, match="stiefel"):
        P.random((3,), (2, 4))
    with pytest.raises(ValueError, match="non-empty"):
        solvent.manifold("product", manifolds=())


@pytest.mark.parametrize("name", CATALOGUE)
def test_dissolve_with_constraint_matches_the_parts(name):
    M = solvent.manifold(name)
    shape = M.example_shapes()[0]
    is_product = bool(shape) and isinstance(shape[0], tuple)
    X = M.random(*shape, dtype=F64, generator=gen(0))
    X = tuple(x + 0.1 for x in X) if is_product else X + 0.1
    A, C = M.dissolve_with_constraint(X)
    for a, b in zip(A if is_product else (A,), M.dissolve(X) if is_product else (M.dissolve(X),)):
        assert torch.allclose(a, b, atol=100 * EPS)
    assert torch.allclose(C, M.constraint(X), atol=100 * EPS)
    assert torch.allclose(M.penalty_from_constraint(C), M.penalty(X), atol=100 * EPS)
