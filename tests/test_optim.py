"""solvent.optim: known optima for every method, derivative checks off the manifold, the guard."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import solvent
import solvent.optim as so
from solvent._points import Layout
from solvent.exceptions import ObjectiveError, SolverOptionError
from solvent.optim.objective import Objective
from solvent.optim.scipy_solve import NumpyObjective

METHODS = [m.name for m in so.METHODS.values()]
F64 = torch.float64


def _orthogonal(n: int, gen: torch.Generator) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=gen))
    return Q * torch.sign(torch.diagonal(R))


def _spd_with_gap(n: int, p: int, seed: int) -> torch.Tensor:
    """Symmetric H with eigenvalues in [-1, 1] and a gap >= 0.2 after the p-th largest."""
    gen = torch.Generator().manual_seed(seed)
    lam = torch.rand(n, dtype=F64, generator=gen)
    lam = torch.cat([0.6 + 0.4 * lam[:p], -1.0 + 1.4 * lam[p:]])  # top p in [0.6, 1], rest <= 0.4
    Q = _orthogonal(n, gen)
    return (Q * lam) @ Q.mT


def _rayleigh(H):
    return lambda X: -(X * (H @ X)).sum()


# p < n: St(n, n) = O(n) has two components and a local solver stays in the one it starts in
shapes = st.integers(2, 7).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, min(n - 1, 3))))


# ---------------------------------------------------------------- known optima
@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=6)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
@example(shape=(5, 2), seed=651)  # SciPy's Newton-CG stepped to ||C|| = 2.6e12 (issue 12)
def test_every_method_reaches_the_eigh_optimum(method, shape, seed):
    n, p = shape
    H = _spd_with_gap(n, p, seed)
    w, V = scipy.linalg.eigh(H.numpy())
    res = so.minimize(_rayleigh(H), shape=(n, p), method=method, seed=seed)  # gtol 1e-6
    assert res.success, res.message
    # the objective error is quadratic in the gradient norm (~1e-12): n * 1e-10 is generous
    assert abs(res.fun - (-w[-p:].sum())) <= 1e-10 * n
    # the subspace error is linear in it: sin(angle) <= ||rgrad|| / gap (gap >= 0.2): 5e-6
    P_X = res.x @ res.x.mT
    P_V = torch.from_numpy(V[:, -p:] @ V[:, -p:].T)
    assert float(torch.linalg.matrix_norm(P_X - P_V)) <= 1e-5
    assert res.violation <= 1e-6 and bool(solvent.manifold("stiefel").check_point(res.x))


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG", "trust-krylov"])
@settings(max_examples=8)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
def test_procrustes_matches_the_svd_closed_form(method, shape, seed):
    n, p = shape
    gen = torch.Generator().manual_seed(seed)
    # G = U diag(s) V^T with singular values in [0.5, 2]: the polar factor U V^T is well determined
    U, V = _orthogonal(n, gen)[:, :p], _orthogonal(p, gen)
    G = (U * (0.5 + 1.5 * torch.rand(p, dtype=F64, generator=gen))) @ V.mT
    res = so.minimize(lambda X: 0.5 * (X - G).square().sum(), shape=(n, p), method=method,
                      seed=seed)
    assert res.success, res.message
    # error <= ||rgrad|| / (half the smallest singular value, 0.25): 4e-6
    assert float(torch.linalg.matrix_norm(res.x - U @ V.mT)) <= 1e-5


# ---------------------------------------------------------------- derivatives off M
def _slope(ts, errors):
    return np.polyfit(np.log(ts), np.log(errors), 1)[0]


def _slopes(fun, hessp, x, d):
    """log-log slopes of the first- and second-order Taylor errors of h along d.

    The second-order error is ~ b t^3. The first-order one is a t^2 + b t^3 with
    a = d^T H d / 2, so it is fitted where a t^2 dominates (t <= |a / b| / 10),
    not where the two terms cancel.
    """
    h0, g0 = fun(x)
    Hd = hessp(x, d)

    def errors(t):
        ht, _ = fun(x + t * d)
        e1 = ht - h0 - t * (g0 @ d)
        return abs(e1), abs(e1 - 0.5 * t * t * (d @ Hd))

    ts2 = np.logspace(-2.5, -4, 5)  # b t^3 dominates; t^3 >= 1e-12 is above rounding
    e2 = [errors(t)[1] for t in ts2]
    a, b = 0.5 * abs(d @ Hd), e2[2] / ts2[2] ** 3
    ts1 = min(1e-2, 0.1 * a / b) * np.logspace(0, -2, 5)
    return _slope(ts1, [errors(t)[0] for t in ts1]), _slope(ts2, e2)


@settings(max_examples=10)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1), beta=st.floats(0.1, 10.0))
def test_gradient_and_hessp_pass_the_taylor_check_off_the_manifold(shape, seed, beta):
    n, p = shape
    gen = torch.Generator().manual_seed(seed)
    H = _spd_with_gap(n, p, seed)
    h = so.dissolving_function(lambda X: -(X * (H @ X)).sum() + (X**3).sum(), "stiefel", beta)
    X = solvent.manifold("stiefel").random(n, p, dtype=F64, generator=gen)
    X = X + 0.3 * torch.randn(n, p, dtype=F64, generator=gen)  # well off the manifold
    layout = Layout(X)
    obj = NumpyObjective(Objective(h, layout, max_violation=math.inf), second_order=True)
    x = layout.flatten(X).numpy().copy()
    d = torch.randn(x.size, dtype=F64, generator=gen).numpy()
    s1, s2 = _slopes(obj.fun, obj.hessp, x, d)
    # a wrong gradient makes both slopes 1, a wrong Hessian-vector product the second 2
    assert s1 > 1.9 and s2 > 2.8, (s1, s2)


def test_hessp_equals_autograd_hessian():
    gen = torch.Generator().manual_seed(0)
    H = _spd_with_gap(5, 2, 0)
    h = so.dissolving_function(_rayleigh(H), "stiefel", 3.0)
    X = torch.randn(5, 2, dtype=F64, generator=gen)
    obj = NumpyObjective(Objective(h, Layout(X), max_violation=math.inf), second_order=True)
    full = torch.autograd.functional.hessian(lambda x: h(x.view(5, 2)), X.reshape(-1))
    d = torch.randn(10, dtype=F64, generator=gen)
    np.testing.assert_allclose(obj.hessp(X.reshape(-1).numpy(), d.numpy()), (full @ d).numpy(),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- the divergence guard
def _divergent_setting(method="BFGS"):
    """CDOpt's failure case, max tr(X^T H X) over St(20, 4) with a small beta.

    CDOpt's (and SciPy's) Newton-CG runs away here; solvent's own Newton-CG does
    not (Note [bounded Newton step]), so SciPy's BFGS, which does, shows the guard.
    """
    B = torch.randn(20, 20, dtype=F64, generator=torch.Generator().manual_seed(0))
    H = 0.5 * (B + B.mT)
    w = scipy.linalg.eigh(H.numpy(), eigvals_only=True)
    return _rayleigh(H), -w[-4:].sum(), {"shape": (20, 4), "method": method, "seed": 3}


def test_unguarded_bfgs_with_a_tiny_beta_runs_away():
    """Without the guard the setting is CDOpt's failure: h -> -inf off the manifold."""
    f, _, kw = _divergent_setting()
    with np.errstate(all="ignore"):
        res = so.minimize(f, beta=1e-2, max_violation=math.inf, **kw)
    assert min(res.history.objective) < -1e50 and max(res.history.violation) > 1e10


def test_guard_reports_an_explicit_divergent_beta_as_failure():
    f, _, kw = _divergent_setting()
    res = so.minimize(f, beta=1e-2, **kw)
    assert not res.success and res.restarts == 0
    assert "diverged" in res.message and "beta" in res.message
    assert res.violation <= 1.0 and math.isfinite(res.fun)


def test_guard_restarts_turn_the_divergent_run_into_a_converged_one():
    f, opt, kw = _divergent_setting()
    res = so.minimize(f, beta=1e-2, max_restarts=5, **kw)
    assert res.success and res.restarts >= 1 and res.beta >= 1e-1
    assert abs(res.fun - opt) <= 1e-10
    auto = so.minimize(f, beta="auto", **kw)
    assert auto.success and abs(auto.fun - opt) <= 1e-10


@pytest.mark.parametrize("method", ["L-BFGS", "trust-region", "Newton-CG"])
def test_torch_native_methods_stay_inside_the_guarded_region(method):
    """Trial points beyond max_violation count as h = +inf: no iterate leaves the region."""
    f, opt, kw = _divergent_setting(method)
    res = so.minimize(f, beta=1e-2, **kw)
    assert max(res.history.violation) <= 1.0
    assert res.success and abs(res.fun - opt) <= 1e-10


def test_a_run_that_diverges_after_every_restart_is_not_success():
    f, _, kw = _divergent_setting()
    # a restart from the projected last good iterate usually converges; a tight region does not
    res = so.minimize(f, beta=1e-9, max_restarts=1, max_violation=1e-3, **kw)
    assert not res.success and res.restarts == 1 and "diverged" in res.message


# ---------------------------------------------------------------- the result
def test_result_is_feasible_and_consistent():
    H = _spd_with_gap(6, 2, 1)
    seen = []
    res = so.minimize(_rayleigh(H), shape=(6, 2), seed=0, callback=seen.append)
    St = solvent.manifold("stiefel")
    assert float(St.violation(res.x)) <= St.default_atol(res.x)
    assert res.fun == pytest.approx(float(_rayleigh(H)(res.x)), abs=1e-14)
    assert len(res.history) == res.nit + 1 == len(seen) + 1 and res.nfev >= res.nit
    assert seen[-1].k == res.nit and res.history.time == sorted(res.history.time)
    # Note [riemannian gradient]: for Stiefel DA(X)^* is the orthogonal tangent projection
    G = -2 * H @ res.x
    rgrad = G - res.x @ (0.5 * (res.x.mT @ G + G.mT @ res.x))
    expected = float(torch.linalg.matrix_norm(rgrad))
    assert res.grad_norm == pytest.approx(expected, rel=1e-8, abs=1e-12)


def test_callback_can_stop_the_solve():
    res = so.minimize(_rayleigh(_spd_with_gap(6, 2, 1)), shape=(6, 2), seed=0,
                      callback=lambda it: it.k >= 3)
    assert not res.success and res.nit == 3 and "callback" in res.message


def test_dissolve_works_with_a_torch_optimizer():
    gen = torch.Generator().manual_seed(0)
    G = torch.randn(5, 3, dtype=F64, generator=gen)
    h = so.dissolving_function(lambda X: -(X * G).sum(), "stiefel", beta=10.0)
    X = solvent.manifold("stiefel").random(5, 3, dtype=F64, generator=gen)
    X = X.contiguous().requires_grad_(True)  # torch.optim.LBFGS views grads with view(-1)
    opt = torch.optim.LBFGS([X], max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = h(X)
        loss.backward()
        return loss

    opt.step(closure)
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    assert float(torch.linalg.matrix_norm(X.detach() - U @ Vh)) <= 1e-6


@pytest.mark.parametrize("method", ["L-BFGS-B", "L-BFGS", "trust-region"])
def test_float32_and_a_given_x0(method):
    """L-BFGS-B stopped here with "ABNORMAL" at 1.37e-4 > gtol (issue 12): it now goes on."""
    H = _spd_with_gap(5, 2, 2)
    X0 = solvent.manifold("stiefel").random(5, 2, generator=torch.Generator().manual_seed(0))
    res = so.minimize(_rayleigh(H.float()), X0, dtype=torch.float32, gtol=1e-4, method=method)
    w = np.linalg.eigvalsh(H.numpy())
    assert res.success and res.x.dtype == torch.float32 and abs(res.fun + w[-2:].sum()) < 1e-4


def test_sphere_leading_eigenvector():
    H = _spd_with_gap(6, 1, 4)
    w, V = np.linalg.eigh(H.numpy())
    res = so.minimize(lambda x: -(x @ H @ x), shape=(6,), manifold="sphere", seed=0, gtol=1e-7)
    assert res.success and abs(res.fun + w[-1]) <= 1e-10
    assert abs(abs(float(res.x @ torch.from_numpy(V[:, -1]))) - 1) <= 1e-8


# ---------------------------------------------------------------- bad input
def test_bad_input_gets_a_clear_error():
    f = _rayleigh(_spd_with_gap(4, 2, 0))
    with pytest.raises(SolverOptionError, match=r"x0 is not a point of stiefel.*\(2, 4\)"):
        so.minimize(f, torch.zeros(2, 4, dtype=F64))
    with pytest.raises(SolverOptionError, match=r"x0 has shape \(4, 2\) but shape=\(4, 3\)"):
        so.minimize(f, torch.eye(4, 2, dtype=F64), shape=(4, 3))
    with pytest.raises(SolverOptionError, match="give a starting point x0, or shape="):
        so.minimize(f)
    with pytest.raises(SolverOptionError, match="unknown method 'lbfgs'.*L-BFGS-B"):
        so.minimize(f, shape=(4, 2), method="lbfgs")
    with pytest.raises(ObjectiveError, match=r"must return a scalar.*\(4, 2\)"):
        so.minimize(lambda X: X * 2, shape=(4, 2))
    with pytest.raises(ObjectiveError, match="returned nan"):
        so.minimize(lambda X: torch.log(-X.abs().sum()), shape=(4, 2))
    with pytest.raises(ValueError, match="beta must be a positive"):
        so.minimize(f, shape=(4, 2), beta=-1.0)
    with pytest.raises(ValueError, match="beta must be a positive number or 'auto'"):
        so.minimize(f, shape=(4, 2), beta="big")
    with pytest.raises(SolverOptionError, match="BFGS keeps a dense"):
        so.minimize(lambda X: X.sum(), shape=(20000, 1), method="BFGS", manifold="euclidean")


def test_layout_round_trips_tuples_and_complex_points():
    parts = (torch.randn(3, 2, dtype=F64), torch.randn(4, dtype=torch.complex128))
    L = Layout(parts)
    back = L.unflatten(L.flatten(parts))
    assert L.size == 14 and all(torch.equal(a, b) for a, b in zip(parts, back))


def test_product_manifold_points_are_tuples():
    P = solvent.manifold("product", manifolds=("sphere", "stiefel"))
    A, B = _spd_with_gap(3, 1, 5), _spd_with_gap(5, 2, 6)
    res = so.minimize(lambda xy: -(xy[0] @ A @ xy[0]) - (xy[1] * (B @ xy[1])).sum(),
                      shape=((3,), (5, 2)), manifold=P, seed=0, method="trust-ncg")
    best = np.linalg.eigvalsh(A.numpy())[-1] + np.linalg.eigvalsh(B.numpy())[-2:].sum()
    assert res.success and isinstance(res.x, tuple) and abs(res.fun + best) <= 1e-10
