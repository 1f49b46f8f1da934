"""solvent.optim's torch-native path, the one meaning of success, beta, points, lazy SciPy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import solvent
import solvent.optim as so
from solvent import _points
from solvent.optim.beta import estimate_beta
from solvent.optim.minimize import DEFAULT_GTOL

F64 = torch.float64
NATIVE = ["L-BFGS", "trust-region", "Newton-CG"]


def _pca(n: int, p: int, seed: int = 0):
    """-tr(X^T H X), H a sample covariance of a planted p-dimensional signal (as the example)."""
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, p, dtype=F64, generator=gen))
    Z = torch.randn(4 * n, p, dtype=F64, generator=gen) * torch.linspace(3.0, 2.0, p, dtype=F64)
    D = Z @ basis.mT + torch.randn(4 * n, n, dtype=F64, generator=gen)
    H = D.mT @ D / (4 * n)
    return (lambda X: -(X * (H @ X)).sum()), H


# ---------------------------------------------------------------- lazy SciPy
def test_import_solvent_and_a_torch_native_solve_do_not_import_scipy():
    code = ("import sys, solvent, solvent.optim as so\n"
            "print('scipy' in sys.modules)\n"
            "r = so.minimize(lambda X: -X[0, 0], shape=(4, 2), method='L-BFGS', seed=0)\n"
            "print(r.success, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"], out.stdout + out.stderr


# ---------------------------------------------------------------- PCA St(300, 6) (issue 12)
@pytest.mark.parametrize("method", ["CG", "L-BFGS-B", *NATIVE])
def test_pca_st_300_6_reaches_gtol(method):
    f, H = _pca(300, 6)
    res = so.minimize(f, shape=(300, 6), method=method, seed=0)  # gtol 1e-6
    assert res.success and res.grad_norm <= 1e-6, res.message
    w = np.linalg.eigvalsh(H.numpy())
    assert abs(res.fun + w[-6:].sum()) <= 1e-9 * w[-6:].sum()


# ---------------------------------------------------------------- one meaning of success
@pytest.mark.parametrize("method", [m.name for m in so.METHODS.values()])
def test_success_is_the_reported_gradient_norm_meeting_gtol(method):
    f, _ = _pca(30, 3, seed=1)
    done = so.minimize(f, shape=(30, 3), method=method, seed=0, gtol=1e-7)
    assert done.success and done.grad_norm <= 1e-7, done.message
    cut = so.minimize(f, shape=(30, 3), method=method, seed=0, gtol=1e-7, maxiter=2)
    assert not cut.success and cut.grad_norm > 1e-7
    assert "not converged" in cut.message and f"{cut.grad_norm:.3g}" in cut.message


def test_a_scipy_stop_short_of_gtol_goes_on_natively_and_says_so():
    """float32 L-BFGS-B stops on its relative-decrease test: solvent's L-BFGS finishes."""
    gen = torch.Generator().manual_seed(2)
    H = torch.randn(5, 5, generator=gen)
    H = H + H.mT
    res = so.minimize(lambda X: -(X * (H @ X)).sum(), shape=(5, 2), dtype=torch.float32,
                      gtol=1e-4, seed=0, method="L-BFGS-B")
    assert res.success and res.grad_norm <= 1e-4 and res.x.dtype == torch.float32
    assert "L-BFGS-B stopped" in res.message and "solvent's L-BFGS went on" in res.message


@pytest.mark.parametrize("method", NATIVE)
def test_float32_native_solves_meet_the_float32_default_gtol(method):
    _, H = _pca(40, 3, seed=3)
    X0 = solvent.manifold("stiefel").random(40, 3, generator=torch.Generator().manual_seed(0))
    res = so.minimize(lambda X: -(X * (H.float() @ X)).sum(), X0.float(), method=method)
    assert res.success and res.grad_norm <= DEFAULT_GTOL[torch.float32] == 1e-3
    assert res.x.dtype == torch.float32 and res.x.device == X0.device


@pytest.mark.parametrize("method", NATIVE)
def test_native_methods_handle_tuple_and_complex_points(method):
    P = solvent.manifold("product", manifolds=("sphere", "stiefel"))
    gen = torch.Generator().manual_seed(5)
    A = torch.randn(3, 3, dtype=F64, generator=gen)
    A = A + A.mT
    B = torch.randn(5, 5, dtype=torch.complex128, generator=gen)
    B = B + B.mH  # Hermitian: max Re tr(X^H B X) over complex St(5, 2)
    res = so.minimize(lambda xy: -(xy[0] @ A @ xy[0]) - (xy[1].conj() * (B @ xy[1])).sum().real,
                      (torch.ones(3, dtype=F64), torch.eye(5, 2, dtype=torch.complex128)),
                      manifold=P, method=method)
    best = np.linalg.eigvalsh(A.numpy())[-1] + np.linalg.eigvalsh(B.numpy())[-2:].sum()
    assert res.success and res.x[1].dtype == torch.complex128 and abs(res.fun + best) <= 1e-9


# ---------------------------------------------------------------- beta
def test_beta_is_twice_the_measured_normal_curvature_need_on_stiefel():
    """Stiefel, f = tr(X^T H X): h is convex across M iff beta > 3/2 lambda_max(X^T H X)."""
    H = torch.diag(torch.tensor([3.0, 1.0, -2.0, 0.5], dtype=F64))
    X0 = torch.eye(4, 2, dtype=F64)  # X0^T H X0 = diag(3, 1): need 4.5
    beta = estimate_beta(lambda X: (X * (H @ X)).sum(), X0, "stiefel",
                         generator=torch.Generator().manual_seed(0))
    assert beta == pytest.approx(9.0, rel=1e-10)
    # maximising instead: f o A is convex across M already; beta is the floor 0.01 ||grad f||
    low = estimate_beta(lambda X: -(X * (H @ X)).sum(), X0, "stiefel")
    assert low == pytest.approx(0.01 * float(torch.linalg.norm(2 * H @ X0)), rel=1e-10)


# ---------------------------------------------------------------- points
def test_points_round_trip_tuples_and_complex_parts():
    X = (torch.randn(3, 2, dtype=F64), torch.randn(4, dtype=torch.complex128))
    L = _points.Layout(X)
    x = L.flatten(X)
    assert x.dtype == F64 and L.size == x.numel() == 14 and L.sizes == [6, 8]
    back = L.unflatten(x)
    assert isinstance(back, tuple) and all(torch.equal(a, b) for a, b in zip(X, back))
    single = torch.randn(2, 3, dtype=F64)
    assert _points.flatten(single).data_ptr() == single.data_ptr()  # a view, no copy
    assert _points.parts(single) == (single,) and _points.join([single], single) is single
    doubled = _points.map_parts(lambda t: 2 * t, X)
    assert isinstance(doubled, tuple) and torch.equal(doubled[1], 2 * X[1])


def test_unflatten_is_a_view_so_gradients_reach_the_flat_vector():
    X = (torch.randn(2, 2, dtype=F64), torch.randn(3, dtype=torch.complex128))
    L = _points.Layout(X)
    x = L.flatten(X).requires_grad_(True)
    A, z = L.unflatten(x)
    (A.sum() + z.abs().square().sum()).backward()
    expected = torch.cat([torch.ones(4, dtype=F64), 2 * torch.view_as_real(X[1]).reshape(-1)])
    assert torch.allclose(x.grad, expected)


# ---------------------------------------------------------------- the device
@pytest.mark.parametrize("method", NATIVE)
def test_native_solve_keeps_x0s_device_and_dtype(method):
    f, _ = _pca(20, 2, seed=4)
    X0 = solvent.manifold("stiefel").random(20, 2, dtype=F64)
    seen = []
    res = so.minimize(f, X0, method=method, callback=lambda it: seen.append(it.x.device))
    assert res.success and res.x.device == X0.device and set(seen) == {X0.device}
    assert math.isfinite(res.fun)


@pytest.mark.parametrize("method", NATIVE)
def test_a_start_at_a_stationary_point_converges_at_once(method):
    H = torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=F64))
    res = so.minimize(lambda X: -(X * (H @ X)).sum(), torch.eye(4, 2, dtype=F64), method=method,
                      gtol=0.0)
    # the start itself meets the test: no iteration, one evaluation there and one at its projection
    assert res.success and res.grad_norm == 0.0 and res.nit == 0 and res.fun == -5.0
    assert res.nfev == 2
