"""Checks for the chart kind: the map lands in M, has full rank, and lift inverts it nearby."""

from __future__ import annotations

import dataclasses

import torch

from solvent._points import map_parts, parts
from solvent.testing._helpers import (
    _axpy,
    _flat_fn,
    _free_input,
    _norm,
    _randn_like,
    _random,
    _tol,
    _wide,
)
from solvent.testing._report import CheckResult

# ~~~~~~~~~~~~~~~~~~~
# A chart manifold's map A: free coordinates Z -> M must (1) land in M for
# every Z, not only near some point; (2) be a submersion at generic Z: the rank
# of DA (real flat Jacobian, computed in float64) equals dim M as the manifold
# declares it (``dimension``), or, undeclared, the rank at a second random Z
# (a map that collapses a direction everywhere has the same deficient rank at
# both, so a declared dimension is the stronger check); (3) cover a
# neighbourhood of each point: for points Y near X on M - reached by the
# projection of X + small ambient steps and by the map at Z + small steps -
# ``lift(Y)`` exists and ``A(lift(Y)) == Y``. Gradients (gradcheck), batching
# and torch.func are checked as for the equality kind, on free variables.


def _check_chart_lands(M, shape, dtype, device, gen) -> list[CheckResult]:
    """random, project and the map at arbitrary (Gaussian, scale 2) coordinates are in M."""
    out = []
    X = _random(M, shape, dtype, device, gen)
    Z = M.lift(X)
    for label, Y in (
        ("random in M", X),
        ("A(Z) in M, any Z", M.dissolve(_axpy(2.0, _randn_like(Z, gen), Z))),
        ("project in M", M.project(_axpy(0.3, _randn_like(X, gen), X))),
    ):
        ok, reason = M.check_point(Y, explain=True)
        out.append(CheckResult(label, shape, bool(ok), reason or ""))
    return out


def _check_chart_lift(M, shape, dtype, device, gen) -> list[CheckResult]:
    """A(lift(Y)) == Y at a random X and at points near it (Note [chart checks])."""
    X = _random(M, shape, dtype, device, gen)
    Z = M.lift(X)
    near = [X]
    for t in (1e-2, 1e-3):
        step = _axpy(t * max(_norm(X), 1.0) / max(_norm(X), 1e-300), _randn_like(X, gen), X)
        near.append(M.project(step))
        near.append(M.dissolve(_axpy(t, _randn_like(Z, gen), Z)))
    worst = 0.0
    for Y in near:
        worst = max(worst, _norm(map_parts(torch.sub, M.dissolve(M.lift(Y)), Y)) / max(_norm(Y), 1))
    tol = _tol(M, shape, X, 1000.0)
    detail = f"max |A(lift(Y)) - Y| / |Y| {worst:.2e} <= {tol:.2e} over {len(near)} points"
    return [CheckResult("A(lift(Y)) = Y near X", shape, worst <= tol, detail)]


def _rank(M, Z) -> tuple[int, float]:
    """The rank of DA at Z (flat real Jacobian, float64) and its smallest kept singular value."""
    A, z, _ = _flat_fn(M.dissolve, _wide(Z))
    J = torch.autograd.functional.jacobian(A, z)
    s = torch.linalg.svdvals(J)
    if s.numel() == 0 or float(s[0]) == 0.0:
        return 0, 0.0
    keep = s > s[0] * 1e-9
    return int(keep.sum()), float(s[keep][-1])


def _check_chart_rank(M, shape, dtype, device, gen) -> list[CheckResult]:
    """rank DA(Z) = dim M at random Z (Note [chart checks])."""
    Z1 = _free_input(M, shape, dtype, device, gen, noise=0.5)
    Z2 = _free_input(M, shape, dtype, device, gen, noise=0.5)
    (r1, s1), (r2, _) = _rank(M, Z1), _rank(M, Z2)
    dim = M.dimension(shape, complex=parts(Z1)[0].is_complex())
    if dim is None:
        detail = f"rank {r1} at one point, {r2} at another (dimension undeclared)"
        return [CheckResult("rank DA = dim M", shape, r1 == r2 and r1 > 0, detail)]
    detail = f"rank {r1}, {r2} == dimension {dim} (smallest kept singular value {s1:.1e})"
    return [CheckResult("rank DA = dim M", shape, r1 == r2 == dim, detail)]


def _check_product_factors(M, shape, dtype, device, gen) -> list[CheckResult]:
    """A product with a chart factor: each factor by its own kind's checks, then the whole's."""
    from solvent.testing import checks_for  # the lists live beside check_manifold

    out = []
    for i, (F, s) in enumerate(zip(M.manifolds, shape)):
        for check in checks_for(F):
            for r in check(F, tuple(s), dtype, device, gen):
                out.append(dataclasses.replace(r, name=f"factor {i} ({F.name}): {r.name}"))
    X = _random(M, shape, dtype, device, gen)
    err = _norm(map_parts(torch.sub, M.dissolve(M.lift(X)), X))
    tol = _tol(M, shape, X) * max(1.0, _norm(X))
    out.append(CheckResult("A(lift(X)) = X", shape, err <= tol, f"{err:.2e} <= {tol:.2e}"))
    return out
