"""Checks for the equality kind: feasibility, A = id on M, DA projects onto T_X M, pull-back."""

from __future__ import annotations

import math

import torch

from solvent._points import map_parts
from solvent.testing._helpers import (
    _axpy,
    _eps,
    _flat_fn,
    _norm,
    _randn_like,
    _random,
    _tol,
)
from solvent.testing._report import CheckResult


def _check_feasible(M, shape, dtype, device, gen) -> list[CheckResult]:
    X = _random(M, shape, dtype, device, gen)
    tol = _tol(M, shape, X)
    v = float(M.violation(X).max())
    out = [CheckResult("random feasible", shape, v <= tol, f"violation {v:.2e} <= {tol:.2e}")]
    Y = _axpy(0.3, _randn_like(X, gen), X)
    P = M.project(Y)
    v = float(M.violation(P).max())
    out.append(CheckResult("project feasible", shape, v <= tol, f"violation {v:.2e} <= {tol:.2e}"))
    return out


def _check_fixed_point(M, shape, dtype, device, gen) -> list[CheckResult]:
    X = _random(M, shape, dtype, device, gen)
    err = _norm(map_parts(torch.sub, M.dissolve(X), X))
    tol = _tol(M, shape, X) * max(1.0, _norm(X))
    return [CheckResult("A(X) = X on M", shape, err <= tol, f"|A(X) - X| {err:.2e} <= {tol:.2e}")]


def _check_jacobian(M, shape, dtype, device, gen) -> list[CheckResult]:
    """DA(X) maps into T_X M = null(DC(X)) and fixes T_X M."""
    X = _random(M, shape, dtype, device, gen)
    A, x, unflatten = _flat_fn(M.dissolve, X)
    C, _, _ = _flat_fn(M.constraint, X)
    if C(x).numel() == 0:
        return [CheckResult("DA range in T_X M", shape, True, "no constraint")]
    JA = torch.autograd.functional.jacobian(A, x)
    JC = torch.autograd.functional.jacobian(C, x)
    tol = _tol(M, shape, X, 1000.0) * max(1.0, float(torch.linalg.matrix_norm(JC, 2)))
    d = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=gen)
    v = JA @ d
    res = float(torch.linalg.vector_norm(JC @ v)) / max(float(torch.linalg.vector_norm(d)), 1.0)
    out = [
        CheckResult("DA range in T_X M", shape, res <= tol, f"|DC[DA d]| {res:.2e} <= {tol:.2e}")
    ]
    # The tangent part of d: d minus its least-squares normal component.
    t = d - torch.linalg.pinv(JC, rtol=math.sqrt(_eps(X))) @ (JC @ d)
    fix = float(torch.linalg.vector_norm(JA @ t - t)) / max(float(torch.linalg.vector_norm(t)), 1.0)
    out.append(
        CheckResult("DA fixes T_X M", shape, fix <= tol, f"|DA t - t| {fix:.2e} <= {tol:.2e}")
    )
    return out


def _check_quadratic(M, shape, dtype, device, gen) -> list[CheckResult]:
    """violation(A(X + eps E)) falls like eps^2: slope between eps and eps/4."""
    X = _random(M, shape, dtype, device, gen)
    C, x, unflatten = _flat_fn(M.constraint, X)
    c = C(x)
    if c.numel() == 0:
        return [CheckResult("quadratic pull-back", shape, True, "no constraint")]
    # E = a normal direction J^T w plus half a unit tangent one: the first-order
    # violation J E = J J^T w cannot vanish by chance, whatever the draw.
    J = torch.autograd.functional.jacobian(C, x)
    n = J.mT @ torch.randn(c.shape, dtype=c.dtype, device=c.device, generator=gen)
    e = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=gen)
    t = e - torch.linalg.pinv(J, rtol=math.sqrt(_eps(X))) @ (J @ e)
    tiny = torch.finfo(x.dtype).tiny  # 1e-300 would be 0 in float32, and 0 / 0 NaN
    e = n / n.norm().clamp_min(tiny) + 0.5 * t / t.norm().clamp_min(tiny)
    E = unflatten(e / e.norm())
    # Step scaled to the constraint: the largest eps (down from 1/10 of the
    # point's size, by 4x) whose first-order violation is below `target`, so
    # the Taylor regime holds for large points and float32 alike.
    target = 1e-3 if _eps(X) < 1e-10 else 1e-1
    eps = 0.1 * max(_norm(X), 1.0)
    for _ in range(30):
        if float(M.violation(_axpy(eps, E, X)).max()) <= target:
            break
        eps /= 4
    v1 = float(M.violation(M.dissolve(_axpy(eps, E, X))).max())
    v2 = float(M.violation(M.dissolve(_axpy(eps / 4, E, X))).max())
    floor = _tol(M, shape, X)
    if v1 <= floor:
        return [
            CheckResult("quadratic pull-back", shape, True, f"violation {v1:.1e} at rounding level")
        ]
    slope = math.log(v1 / max(v2, floor * 1e-3)) / math.log(4.0)
    ok = slope >= 1.7 or v2 <= floor
    return [
        CheckResult("quadratic pull-back", shape, ok, f"slope {slope:.2f} >= 1.7 (eps {eps:.1e})")
    ]
