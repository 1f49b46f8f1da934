"""The conformance kit: ``check_manifold(M)`` and hypothesis strategies.

Our own test suite runs :func:`check_manifold` over every registered manifold;
plugin authors run it on theirs. Every check works on random inputs from a
seeded generator, in float64 by default, with tolerances scaled by the size of
a point and the dtype's machine epsilon.

Example:
    >>> import torch, solvent
    >>> from solvent.testing import check_manifold
    >>> report = check_manifold(solvent.manifold("stiefel"), shapes=[(4, 2)])
    >>> report.ok
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from solvent._points import Layout, flatten, map_parts, parts
from solvent.manifolds._linalg import tolerance, wide
from solvent.manifolds.base import Manifold

__all__ = [
    "CHART_CHECKS",
    "EQUALITY_CHECKS",
    "FUNC_CHECKS",
    "CheckResult",
    "Report",
    "check_manifold",
    "check_torch_func",
    "well_conditioned",
    "points",
    "perturbations",
    "shapes",
]


@dataclasses.dataclass
class CheckResult:
    """One check on one shape."""

    name: str
    shape: tuple
    passed: bool
    detail: str = ""


@dataclasses.dataclass
class Report:
    """What :func:`check_manifold` found; falsy when any check failed."""

    manifold: str
    results: list[CheckResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def __bool__(self) -> bool:
        return self.ok

    def format(self) -> str:
        lines = [f"conformance of {self.manifold!r}:"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"  {mark}  {r.name:<22} shape={r.shape}  {r.detail}".rstrip())
        n_fail = len(self.failures)
        lines.append(f"{len(self.results) - n_fail} passed, {n_fail} failed")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- point helpers
# Points are tensors, or tuples of tensors for product manifolds; solvent._points
# treats both alike. Outputs may nest one level more ((A, C) of a product).


def _leaves(y) -> list[Tensor]:
    if isinstance(y, (tuple, list)):
        return [leaf for part in y for leaf in _leaves(part)]
    return [y]


def _flatten(y) -> Tensor:
    """A point, or an output nesting points ((A, C) of a product), as one flat real vector."""
    leaves = _leaves(y)
    return flatten(leaves[0] if len(leaves) == 1 else tuple(leaves))


def _norm(X) -> float:
    return float(torch.linalg.vector_norm(_flatten(X)))


def _randn_like(X, gen: torch.Generator):
    return map_parts(
        lambda t: torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=gen), X
    )


def _axpy(a: float, X, Y):
    """Y + a X, part by part."""
    return map_parts(lambda x, y: y + a * x, X, Y)


def _eps(X) -> float:
    return torch.finfo(parts(X)[0].dtype).eps


def _tol(M: Manifold, shape, X, factor: float = 100.0) -> float:
    """``tolerance`` of the point size, as ``Manifold.default_atol``, scaled by ``factor``."""
    return tolerance(M.point_numel(shape), parts(X)[0].dtype, factor)


def _is_product_shape(shape) -> bool:
    return bool(shape) and not isinstance(shape[0], int)


def _random(M: Manifold, shape, dtype, device, gen):
    return M.random(*shape, dtype=dtype, device=device, generator=gen)


def _free_input(M: Manifold, shape, dtype, device, gen, noise: float = 0.1):
    """A free variable near a random point's coordinates: ``lift(random) + noise * Gaussian``."""
    Z = M.lift(_random(M, shape, dtype, device, gen))
    return _axpy(noise, _randn_like(Z, gen), Z)


def _flat_fn(fn: Callable, x):
    """fn as a map between flat real vectors (complex parts as real pairs), and flat x."""
    layout = Layout(x)

    def flat(v: Tensor) -> Tensor:
        return _flatten(fn(layout.unflatten(v)))

    return flat, layout.flatten(x), layout.unflatten


# ----------------------------------------------------------------------------- the checks


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


def _check_autograd(M, shape, dtype, device, gen) -> list[CheckResult]:
    if dtype not in (torch.float64, torch.complex128):
        return []
    X = _free_input(M, shape, dtype, device, gen)
    out = []
    if M.constraint(X).numel() == 0:  # no C: the map is all there is to differentiate
        names = ("dissolve",)
    else:
        names = ("constraint", "dissolve", "penalty")
    for name in names:
        fn = getattr(M, name)
        leaves = [t.detach().requires_grad_() for t in parts(X)]

        def call(*ts, _fn=fn, _multi=isinstance(X, (tuple, list))):
            return _fn(tuple(ts) if _multi else ts[0])

        for label, checker in (
            ("gradcheck", torch.autograd.gradcheck),
            ("gradgradcheck", torch.autograd.gradgradcheck),
        ):
            try:
                ok = checker(
                    call, tuple(leaves), eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=True
                )
                detail = ""
            except Exception as err:  # report, do not crash the kit
                ok, detail = False, str(err).splitlines()[0][:200]
            out.append(CheckResult(f"{label} {name}", shape, bool(ok), detail))
    return out


def _check_batch_dtype(M, shape, dtype, device, gen) -> list[CheckResult]:
    out = []
    if _is_product_shape(shape):  # tuples: checked per part by the kit on each factor
        Z = _free_input(M, shape, dtype, device, gen)
        A = M.dissolve(Z)
        want = M.point_shape([z.shape for z in parts(Z)])
        same = all(
            tuple(a.shape) == tuple(s) and a.dtype == z.dtype and a.device == z.device
            for a, s, z in zip(parts(A), want, parts(Z))
        )
        out.append(CheckResult("dtype/device/shape", shape, same))
        return out
    bshape = (2, 3, *shape)
    X = _free_input(M, bshape, dtype, device, gen)
    A = M.dissolve(X)
    ok = A.shape == (2, 3, *shape) and A.dtype == X.dtype and A.device == X.device
    out.append(
        CheckResult("dtype/device/shape", bshape, ok, f"{tuple(A.shape)} {A.dtype} {A.device}")
    )
    C, v, p = M.constraint(X), M.violation(A), M.penalty(X)
    ok = (
        tuple(C.shape[:2]) == (2, 3)
        and tuple(v.shape) == (2, 3)
        and p.ndim == 0
        and not p.is_complex()
    )
    out.append(
        CheckResult("batch shapes", bshape, ok, f"C {tuple(C.shape)}, violation {tuple(v.shape)}")
    )
    one = M.dissolve(X[1, 2])
    err = float(torch.linalg.vector_norm(one - A[1, 2]))
    tol = _tol(M, shape, X) * max(1.0, float(torch.linalg.vector_norm(one)))
    out.append(CheckResult("batch = per point", bshape, err <= tol, f"{err:.2e} <= {tol:.2e}"))
    return out


# ----------------------------------------------------------------------------- torch.func
# Note [torch.func checks]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# A map must compose with torch.func: forward mode (jvp, jacfwd, hessian) and
# vmap. A custom autograd.Function without ``jvp`` (or without a vmap rule)
# passes gradcheck yet fails here, which is why these checks exist. Each is
# compared with a reference that does not use the transform: jvp and the
# Hessian with central finite differences, vmap with a Python loop. The
# differences are taken in float64/complex128 whatever the dtype under test (a
# float32 difference quotient would measure its own rounding), and the
# tolerance is the dtype's n * eps scale plus a floor of 1e-6 for the
# difference quotient's own error (step eps64^(1/3): truncation and rounding
# both ~1e-11 relative). A wrong or missing rule errs by O(1).


@contextlib.contextmanager
def _torch_func_quietly():
    """Silence torch's own FutureWarning on the first forward-mode call of a process.

    torch 2.14 builds its forward-mode decompositions on first use with the
    deprecated ``torch.jit.script`` (torch/_decomp/decompositions_for_jvp.py);
    under ``-W error`` (our pytest settings, and many plugin authors') that
    warning would fail the first jvp check for a reason that is not the
    manifold's. Only that message is ignored.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
        )
        yield


# The maps a training step runs: the layers' hot path calls dissolve_with_constraint.
_FUNC_MAPS = ("dissolve", "constraint", "dissolve_with_constraint")


def _wide(X):
    """X in float64 (complex128 for complex): the precision of the finite-difference references."""
    return map_parts(lambda t: t.to(wide(t.dtype)), X)


def _off_manifold(M, shape, dtype, device, gen):
    """A free variable near a random point's coordinates (``_free_input``), and a unit direction."""
    X = _free_input(M, shape, dtype, device, gen)
    E = _randn_like(X, gen)
    return X, map_parts(lambda e: e / max(_norm(E), 1e-300), E)


def _fd_tol(M, shape, X, ref: Tensor) -> float:
    return (_tol(M, shape, X, 1000.0) + 1e-6) * max(1.0, float(torch.linalg.vector_norm(ref)))


def _central_difference(fn: Callable, x: Tensor, v: Tensor) -> Tensor:
    h = torch.finfo(x.dtype).eps ** (1 / 3) * max(1.0, float(torch.linalg.vector_norm(x)))
    return (fn(x + h * v) - fn(x - h * v)) / (2 * h)


def _transform_failure(name: str, shape, err: Exception) -> CheckResult:
    first = (str(err).splitlines() or [""])[0]
    return CheckResult(name, shape, False, f"{type(err).__name__}: {first}"[:200])


def _check_func_jvp(M, shape, dtype, device, gen) -> list[CheckResult]:
    """torch.func.jvp of the maps in ``_FUNC_MAPS`` equals central differences."""
    X, E = _off_manifold(M, shape, dtype, device, gen)
    out = []
    for name in _FUNC_MAPS:
        fn, x, _ = _flat_fn(getattr(M, name), X)
        label = f"func.jvp {name}"
        try:
            with _torch_func_quietly():
                _, tangent = torch.func.jvp(fn, (x,), (_flatten(E),))
        except Exception as err:
            out.append(_transform_failure(label, shape, err))
            continue
        fn64, x64, _ = _flat_fn(getattr(M, name), _wide(X))
        ref = _central_difference(fn64, x64, _flatten(_wide(E)))
        err = float(torch.linalg.vector_norm(tangent.to(ref.dtype) - ref))
        tol = _fd_tol(M, shape, X, ref)
        out.append(CheckResult(label, shape, err <= tol, f"|jvp - fd| {err:.2e} <= {tol:.2e}"))
    return out


def _check_func_hessian(M, shape, dtype, device, gen) -> list[CheckResult]:
    """torch.func.hessian of ``penalty`` times a direction equals differences of its gradient."""
    X, E = _off_manifold(M, shape, dtype, device, gen)
    fn, x, _ = _flat_fn(M.penalty, X)
    v = _flatten(E)
    try:
        with _torch_func_quietly():
            Hv = torch.func.hessian(lambda y: fn(y)[0])(x) @ v
    except Exception as err:
        return [_transform_failure("func.hessian penalty", shape, err)]
    fn64, x64, _ = _flat_fn(M.penalty, _wide(X))
    grad64 = torch.func.grad(lambda y: fn64(y)[0])
    ref = _central_difference(grad64, x64, v.to(x64.dtype))
    err = float(torch.linalg.vector_norm(Hv.to(ref.dtype) - ref))
    tol = _fd_tol(M, shape, X, ref)
    detail = f"|H v - fd grad| {err:.2e} <= {tol:.2e}"
    return [CheckResult("func.hessian penalty", shape, err <= tol, detail)]


def _check_func_vmap(M, shape, dtype, device, gen) -> list[CheckResult]:
    """torch.func.vmap of the maps in ``_FUNC_MAPS`` and ``penalty`` equals a loop over points."""
    points = [_off_manifold(M, shape, dtype, device, gen)[0] for _ in range(3)]
    X = map_parts(lambda *ts: torch.stack(ts), *points)
    out = []
    for name in (*_FUNC_MAPS, "penalty"):
        fn, label = getattr(M, name), f"func.vmap {name}"
        try:
            batched = torch.func.vmap(fn)(X)
        except Exception as err:
            out.append(_transform_failure(label, shape, err))
            continue
        looped = _stack_outputs([fn(p) for p in points])
        err = _norm(_sub_outputs(batched, looped))
        tol = _tol(M, shape, X) * max(1.0, _norm(looped))
        out.append(CheckResult(label, shape, err <= tol, f"|vmap - loop| {err:.2e} <= {tol:.2e}"))
    return out


def _refuses(fn: Callable, X, error: type) -> tuple[bool, str]:
    """Whether fn(X) raises ``error`` (its message naming the manifold is checked by the caller)."""
    try:
        fn(X)
    except error as err:
        return True, str(err)
    return False, "no error"


def _check_bad_input(M, device) -> list[CheckResult]:
    out = []
    dtype = torch.float64 if M.supports_real else torch.complex128
    for bad in M.bad_shapes():
        ok, detail = _refuses(M.violation, torch.zeros(bad, dtype=dtype, device=device),
                              ValueError)  # fmt: skip
        out.append(CheckResult("bad point shape -> ValueError", bad, ok and M.name in detail,
                               detail[:120]))  # fmt: skip
    for bad in M.bad_free_shapes():
        ok, detail = _refuses(M.dissolve, torch.zeros(bad, dtype=dtype, device=device),
                              ValueError)  # fmt: skip
        out.append(CheckResult("bad free shape -> ValueError", bad, ok and M.name in detail,
                               detail[:120]))  # fmt: skip
    good = M.example_shapes()[0]
    if good and isinstance(good[0], int):
        good = M.free_shape(good)
        try:
            M.dissolve(torch.zeros(good, dtype=torch.int64, device=device))
            ok, detail = False, "no error"
        except TypeError as err:
            ok, detail = True, str(err)[:120]
        out.append(CheckResult("int dtype -> TypeError", good, ok, detail))
    return out


def _stack_outputs(outs: list):
    """Per-point outputs stacked along a new first dimension, nesting kept ((A, C) of a product)."""
    if isinstance(outs[0], (tuple, list)):
        return tuple(_stack_outputs([o[i] for o in outs]) for i in range(len(outs[0])))
    return torch.stack(outs)


def _sub_outputs(a, b):
    if isinstance(a, (tuple, list)):
        return tuple(_sub_outputs(x, y) for x, y in zip(a, b))
    return a - b


# ----------------------------------------------------------------------------- chart kind
# Note [chart checks]
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
    out = []
    for i, (F, s) in enumerate(zip(M.manifolds, shape)):
        for check in _checks_for(F):
            for r in check(F, tuple(s), dtype, device, gen):
                out.append(dataclasses.replace(r, name=f"factor {i} ({F.name}): {r.name}"))
    X = _random(M, shape, dtype, device, gen)
    err = _norm(map_parts(torch.sub, M.dissolve(M.lift(X)), X))
    tol = _tol(M, shape, X) * max(1.0, _norm(X))
    out.append(CheckResult("A(lift(X)) = X", shape, err <= tol, f"{err:.2e} <= {tol:.2e}"))
    return out


# ----------------------------------------------------------------------------- the lists
# The torch.func checks run first: a map that keeps a tensor made inside a
# transform (a process-wide cache) fails the next transform, and only shows
# if the transform is the first to build it (Note [no tensor cache]).
FUNC_CHECKS = (_check_func_hessian, _check_func_jvp, _check_func_vmap)
EQUALITY_CHECKS = (
    *FUNC_CHECKS,
    _check_feasible,
    _check_fixed_point,
    _check_jacobian,
    _check_quadratic,
    _check_autograd,
    _check_batch_dtype,
)
CHART_CHECKS = (
    *FUNC_CHECKS,
    _check_chart_lands,
    _check_chart_lift,
    _check_chart_rank,
    _check_autograd,
    _check_batch_dtype,
)
CHECKS = EQUALITY_CHECKS  # the name before the chart kind existed


def _checks_for(M: Manifold) -> tuple:
    """The checks M's kind calls for; a product with a chart factor is checked factor by factor."""
    factors = getattr(M, "manifolds", None)
    if factors is not None and any(F.kind == "chart" for F in factors):
        return (*FUNC_CHECKS, _check_product_factors, _check_batch_dtype)
    return CHART_CHECKS if M.kind == "chart" else EQUALITY_CHECKS


def _run(M: Manifold, checks, shapes, dtype, device, seed) -> Report:
    gen = torch.Generator(device=device or "cpu").manual_seed(seed)
    report = Report(M.name)
    for shape in shapes or M.example_shapes():
        shape = tuple(shape)
        for check in checks:
            try:
                report.results.extend(check(M, shape, dtype, device, gen))
            except Exception as err:  # a crash is a failure, reported with its cause
                report.results.append(
                    CheckResult(check.__name__[7:], shape, False, repr(err)[:200])
                )
    return report


def check_torch_func(
    M: Manifold,
    shapes: Sequence[tuple] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> Report:
    """Only the torch.func checks of :func:`check_manifold` (hessian, jvp, vmap), run first.

    Example:
        >>> import solvent
        >>> from solvent.testing import check_torch_func
        >>> bool(check_torch_func(solvent.manifold("sphere")))
        True
    """
    return _run(M, FUNC_CHECKS, shapes, dtype, device, seed)


def check_manifold(
    M: Manifold,
    shapes: Sequence[tuple] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
    raise_on_failure: bool = False,
) -> Report:
    """Run the conformance checks on M; returns a :class:`Report` (falsy on failure).

    Equality kind, for each shape: (1) ``random`` and ``project`` are feasible;
    (2) ``dissolve(X) == X`` on M; (3) DA(X) maps into T_X M and fixes it;
    (4) A pulls points back quadratically; (5) gradcheck and gradgradcheck of
    ``constraint``, ``dissolve``, ``penalty`` (float64/complex128 only);
    (6) dtype, device and batch shapes are preserved and batched = per point;
    (7) ``torch.func`` composes: ``jvp`` of ``dissolve``, ``constraint`` and
    ``dissolve_with_constraint`` equals finite differences, ``vmap`` of those
    and ``penalty`` equals a loop, and ``hessian`` of ``penalty`` equals finite
    differences of its gradient (see Note [torch.func checks]).

    Chart kind (Note [chart checks]): ``random``, ``project`` and the map at
    arbitrary coordinates land in M; the Jacobian of the map has rank
    ``dimension`` at random coordinates; ``dissolve(lift(Y)) == Y`` at points
    near a random X; gradcheck of ``dissolve``; batch, dtype and torch.func
    as above, on free variables. A product with a chart factor is checked
    factor by factor, each by its kind, plus its own torch.func and batching.

    Then, for both kinds: bad point shapes (``violation``) and bad free shapes
    (``dissolve``) raise ``ValueError`` naming the manifold, integer input
    ``TypeError``.

    Args:
        M: the manifold.
        shapes: point shapes to try (default ``M.example_shapes()``).
        dtype: float64 by default; float32 and complex dtypes work too.
        device: where to run (default CPU).
        seed: seeds the random inputs.
        raise_on_failure: raise ``AssertionError`` with the report if a check fails.

    Example:
        >>> import solvent
        >>> from solvent.testing import check_manifold
        >>> bool(check_manifold(solvent.manifold("euclidean")))
        True
    """
    report = _run(M, _checks_for(M), shapes, dtype, device, seed)
    report.results.extend(_check_bad_input(M, device))
    if raise_on_failure and not report.ok:
        raise AssertionError(report.format())
    return report


# ----------------------------------------------------------------------------- strategies


def well_conditioned(
    n: int, p: int, cond: float = 10.0, *, seed: int = 0, dtype=torch.float64
) -> Tensor:
    """An n x p matrix with singular values spread in [1, cond]: QR (sign fixed) then chosen S."""
    from solvent.manifolds.stiefel import qr_unique

    gen = torch.Generator().manual_seed(seed)
    k = min(n, p)
    U = qr_unique(torch.randn(n, k, dtype=dtype, generator=gen))
    V = qr_unique(torch.randn(p, k, dtype=dtype, generator=gen))
    S = torch.logspace(0, math.log10(cond), k, dtype=U.real.dtype if U.is_complex() else dtype)
    return (U * S.to(U.dtype)) @ V.mH


def shapes(M: Manifold, max_batch: int = 2):
    """Hypothesis strategy: a point shape of M with up to ``max_batch`` batch dimensions."""
    from hypothesis import strategies as st

    base = st.sampled_from(M.example_shapes())
    if not isinstance(M.example_shapes()[0][0] if M.example_shapes()[0] else 0, int):
        return base
    batch = st.lists(st.integers(1, 3), max_size=max_batch).map(tuple)
    return st.tuples(batch, base).map(lambda bs: bs[0] + tuple(bs[1]))


def points(M: Manifold, dtype=torch.float64, max_batch: int = 2):
    """Hypothesis strategy: a random feasible point of M (shape and seed drawn)."""
    from hypothesis import strategies as st

    def build(args):
        shape, seed = args
        gen = torch.Generator().manual_seed(seed)
        return M.random(*shape, dtype=dtype, generator=gen)

    return st.tuples(shapes(M, max_batch), st.integers(0, 2**31 - 1)).map(build)


def perturbations(X, scale: float = 1.0):
    """Hypothesis strategy: a random direction like X, of norm ``scale`` (seed drawn)."""
    from hypothesis import strategies as st

    def build(seed):
        E = _randn_like(X, torch.Generator().manual_seed(seed))
        n = _norm(E)
        return map_parts(lambda e: e * (scale / max(n, 1e-300)), E)

    return st.integers(0, 2**31 - 1).map(build)
