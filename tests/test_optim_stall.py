"""solvent.optim: beta from the worst normal direction, raised in flight, honest counts,
cheap rejection, no saddle reported as success, bad objectives caught at once, chart manifolds."""

from __future__ import annotations

import math

import pytest
import torch

import solvent
import solvent.optim as so
from solvent.exceptions import ObjectiveError
from solvent.optim.beta import estimate_beta
from tests.manifolds_for_tests import ExpPositive

F64 = torch.float64
NATIVE = ["L-BFGS", "trust-region", "Newton-CG"]


class Counted:
    """An objective that counts its calls."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, X):
        self.calls += 1
        return self.f(X)


def _circle(n: int = 12, seed: int = 0):
    """min x^H H x over n unit-modulus complex entries (oblique (n, 1), complex128)."""
    gen = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    H = Z + Z.mH
    x0 = solvent.manifold("oblique").random(n, 1, dtype=torch.complex128, generator=gen)
    return (lambda x: (x.mH @ H @ x).real.sum()), x0


def _rotations(k: int = 4, seed: int = 0):
    """max sum_i <X_i, M_i> over k rotations of R^3 (so, a batch of k)."""
    gen = torch.Generator().manual_seed(seed)
    Mt = torch.randn(k, 3, 3, dtype=F64, generator=gen)
    X0 = solvent.manifold("so").random(k, 3, 3, dtype=F64, generator=gen)
    return (lambda X: -(X * Mt).sum()), X0, Mt


# ---------------------------------------------------------------- beta
def test_beta_takes_the_worst_row_not_an_average():
    """Sphere map row by row: along x_i, f(A) curves by -<g_i, x_i>, the penalty by 4 beta.
    The need is the largest <g_i, x_i> / 4 over the rows, whatever the others."""
    gen = torch.Generator().manual_seed(1)
    X = solvent.manifold("oblique").random(30, 3, dtype=F64, generator=gen)
    W = torch.randn(30, 3, dtype=F64, generator=gen) * 0.1
    W[7] = 5.0 * X[7]  # one row needs far more than the rest
    beta = estimate_beta(lambda Y: (Y * W).sum(), X, "oblique")
    need = ((W * X).sum(-1) / 4).max()
    assert beta == pytest.approx(2 * float(need), rel=1e-10)


def test_beta_takes_the_worst_block_of_a_batch():
    """Stiefel/SO map: along X S (S symmetric) A = X(I - 3/2 t^2 S^2) + O(t^3) and
    C = 2 t S + O(t^2), so the need of a block is 3/4 of the largest eigenvalue of sym(X^T G)."""
    f, X0, Mt = _rotations(k=6, seed=2)
    G = -Mt
    S = X0.mT @ G
    need = 0.75 * torch.linalg.eigvalsh(0.5 * (S + S.mT)).max()
    assert estimate_beta(f, X0, "so") == pytest.approx(2 * float(need), rel=1e-8)


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG"])
def test_beta_is_raised_in_flight_not_after_maxiter(method):
    """SciPy's methods step to x + p (no dissolved steps): with a tiny beta they run off M."""
    f, x0 = _circle()
    res = so.minimize(f, x0, "oblique", method=method, beta=1e-3, max_restarts=5, maxiter=1000)
    assert res.success and res.restarts >= 1
    first_raise, beta, why = res.betas[1]
    assert first_raise <= 20 and beta > 1e-3 and "violation" in why
    assert [b for _, b, _ in res.betas] == sorted(b for _, b, _ in res.betas)
    assert res.betas[0][2] == "given"


# ---------------------------------------------------------------- honest counts
@pytest.mark.parametrize("method", ["L-BFGS", "trust-region", "L-BFGS-B", "trust-krylov"])
def test_counts_are_the_real_calls_over_every_solve(method):
    f, x0 = _circle()
    counted = Counted(f)
    res = so.minimize(counted, x0, "oblique", method=method, beta=1e-3, max_restarts=5)
    assert res.success and (res.restarts >= 1 or method in NATIVE)
    assert res.nfev == counted.calls
    assert res.njev <= res.nfev
    if not method.startswith("trust"):  # Hessian-vector products: the saddle check's only
        assert 0 < res.nhev <= 8


def test_maxiter_bounds_the_total_over_raises():
    f, x0 = _circle()
    res = so.minimize(f, x0, "oblique", method="L-BFGS-B", beta=1e-3, max_restarts=5,
                      maxiter=15)
    assert res.restarts >= 1 and res.nit <= 15
    assert len(res.history) == res.nit + 1 + res.restarts  # each solve records its start


def test_a_rejected_trial_point_does_not_call_f():
    """A long trial step lands beyond a tight max_violation even after A: it is rejected
    before f is called."""
    f, x0 = _circle()
    counted = Counted(f)
    res = so.minimize(counted, x0, "oblique", method="L-BFGS", beta=1e-3, max_violation=0.05)
    assert res.nrej > 0 and res.nfev == counted.calls


def test_the_beta_estimate_costs_no_call_of_f():
    f, X0, _ = _rotations(seed=3)
    auto, given = Counted(f), Counted(f)
    a = so.minimize(auto, X0, "so", curvature_check=0)
    g = so.minimize(given, X0, "so", beta=a.betas[0][1], curvature_check=0)
    assert a.success and g.success and auto.calls == given.calls == a.nfev


# ---------------------------------------------------------------- saddles
@pytest.mark.parametrize("method", ["L-BFGS", "L-BFGS-B", "CG"])
def test_a_start_at_a_saddle_is_not_success_there(method):
    H = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=F64))

    def f(x):
        return -(x @ H @ x)

    x0 = torch.tensor([0.0, 1.0, 0.0], dtype=F64)  # a saddle: the middle eigenvector
    first = so.minimize(f, x0, "sphere", method=method, curvature_check=0)
    assert first.success and first.fun == pytest.approx(-2.0)  # first order only, as documented
    res = so.minimize(f, x0, "sphere", method=method)
    assert res.success and res.fun == pytest.approx(-3.0, abs=1e-10)
    assert "saddle" in res.message


# ---------------------------------------------------------------- bad objectives
def test_a_nan_gradient_is_an_objective_error_at_once():
    X0 = torch.eye(4, 2, dtype=F64)
    f = Counted(lambda X: torch.sqrt(((X - X0) ** 2).sum()))  # value 0, gradient 0/0 at X0
    with pytest.raises(ObjectiveError, match="gradient of the objective f is not finite"):
        so.minimize(f, X0)
    assert f.calls == 1


@pytest.mark.parametrize("beta", ["auto", 1.0])
def test_an_objective_that_detaches_x_is_an_objective_error_at_once(beta):
    f = Counted(lambda X: torch.tensor(float((X.detach() ** 2).sum()), dtype=F64))
    with pytest.raises(ObjectiveError, match="does not depend on X through autograd"):
        so.minimize(f, shape=(4, 2), seed=0, beta=beta)
    assert f.calls == 1


# ---------------------------------------------------------------- chart manifolds
@pytest.mark.parametrize("method", ["L-BFGS", "trust-region", "L-BFGS-B"])
def test_a_chart_manifold_solves_in_its_free_coordinates(method):
    T = torch.tensor([0.5, 2.0, 3.0], dtype=F64)
    f = Counted(lambda x: ((x - T) ** 2).sum() + (x * x.log()).sum() * 0.0)
    x0 = torch.ones(3, dtype=F64)
    res = so.minimize(f, x0, ExpPositive(), method=method)
    assert res.success and res.beta == 0.0 and res.restarts == 0
    assert torch.allclose(res.x, T, atol=1e-6) and bool((res.x > 0).all())
    assert res.nfev == f.calls and res.violation == 0.0


def test_a_chart_manifold_callback_sees_points():
    seen = []
    so.minimize(lambda x: ((x - 2.0) ** 2).sum(), torch.ones(2, dtype=F64), ExpPositive(),
                callback=lambda it: seen.append(it.x))
    assert seen and all(bool((x > 0).all()) for x in seen)
    assert math.isclose(float(seen[-1][0]), 2.0, abs_tol=1e-5)


def test_a_product_mixing_chart_and_equality_factors_is_refused_at_set_up():
    P = solvent.manifold("product", manifolds=("positive", "sphere"))
    x0 = (torch.ones(2, 2, dtype=F64), torch.tensor([1.0, 0.0], dtype=F64))
    calls = []

    def f(X):
        calls.append(1)
        return X[0].sum() + X[1].sum()

    with pytest.raises(ValueError, match="mixes chart factors"):
        so.minimize(f, x0, P)
    assert not calls  # refused before any evaluation
