"""The conformance kit over every registered manifold, and over constraint-only ones."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import solvent
from solvent.manifolds.stiefel import polar
from solvent.testing import check_manifold
from tests.manifolds_for_tests import SymmetricStiefel, UnitCircleRows

REGISTERED = solvent.available()
GENERIC = [SymmetricStiefel(), UnitCircleRows()]


DTYPES = [torch.float64, torch.float32, torch.complex128]
CASES = [
    (name, dtype)
    for name in REGISTERED
    for dtype in DTYPES
    if not (dtype.is_complex and not solvent.manifold(name).supports_complex)
]


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=lambda v: str(v).replace("torch.", ""))
@settings(max_examples=3)
@given(seed=st.integers(0, 2**31 - 1))
def test_registered_manifold_conforms(name, dtype, seed):
    """Every registered manifold (built-in or plugin) passes the kit, on hypothesis-drawn seeds."""
    report = check_manifold(solvent.manifold(name), dtype=dtype, seed=seed)
    assert report.ok, report.format()


GENERIC_CASES = [
    (M, dtype) for M in GENERIC for dtype in DTYPES if M.supports_complex or not dtype.is_complex
]


@pytest.mark.parametrize(("M", "dtype"), GENERIC_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_generic_map_conforms(M, dtype):
    report = check_manifold(M, dtype=dtype, seed=1)
    assert report.ok, report.format()


def test_generic_map_at_exactly_feasible_redundant_point():
    """CDOpt's generic map fails with a singular solve here; ours returns X."""
    M = SymmetricStiefel()
    X = torch.eye(3, dtype=torch.float64)[:, :2].clone()
    assert torch.equal(M.constraint(X), torch.zeros(2, 2, dtype=torch.float64))
    A = M.dissolve(X)
    assert torch.allclose(A, X, atol=1e-14)


def test_generic_map_trains_through():
    """Adam on f(A(X)) + beta * penalty reaches a feasible minimiser through the generic map."""
    M = SymmetricStiefel()
    torch.manual_seed(0)
    H = torch.randn(4, 4, dtype=torch.float64)
    H = H + H.T
    X = M.random(4, 2, dtype=torch.float64).requires_grad_()
    opt = torch.optim.Adam([X], lr=0.02)
    for _ in range(500):
        opt.zero_grad()
        Y = M.dissolve(X)
        loss = -torch.trace(Y.T @ H @ Y) + 10.0 * M.penalty(X)
        loss.backward()
        opt.step()
    best = torch.linalg.eigvalsh(H)[-2:].sum()
    Y = M.project(X.detach())
    assert float(M.violation(X.detach())) < 1e-3
    assert abs(float(torch.trace(Y.T @ H @ Y)) - float(best)) < 1e-3 * abs(float(best)) + 1e-3


def test_check_manifold_catches_a_wrong_map():
    """The kit must fail a manifold whose map is not a dissolving map (it can fail)."""

    class Wrong(SymmetricStiefel):
        name = "test_wrong"

        def _dissolve(self, X):
            return X @ (1.5 * torch.eye(X.shape[-1], dtype=X.dtype) - 0.25 * X.mT @ X)

        def _project(self, X, **_):
            return polar(X)

    report = check_manifold(Wrong(), shapes=[(3, 2)])
    assert not report.ok
    failed = {r.name for r in report.failures}
    assert "A(X) = X on M" in failed and "DA range in T_X M" in failed
