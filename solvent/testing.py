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

from solvent._points import Layout, flatten
from solvent.manifolds.base import Manifold

__all__ = [
    "CheckResult",
    "Report",
    "check_manifold",
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
# Points are tensors, or tuples of tensors for product manifolds; these helpers
# treat both alike.


def _map(fn: Callable, *xs):
    if isinstance(xs[0], (tuple, list)):
        return tuple(_map(fn, *parts) for parts in zip(*xs))
    return fn(*xs)


def _leaves(x) -> list[Tensor]:
    if isinstance(x, (tuple, list)):
        return [leaf for part in x for leaf in _leaves(part)]
    return [x]


def _norm(x) -> float:
    return math.sqrt(sum(float(torch.linalg.vector_norm(t)) ** 2 for t in _leaves(x)))


def _randn_like(x, gen: torch.Generator):
    return _map(lambda t: torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=gen), x)


def _axpy(a: float, x, y):
    return _map(lambda s, t: t + a * s, x, y)


def _eps(x) -> float:
    return torch.finfo(_leaves(x)[0].dtype).eps


def _point_size(M: Manifold, shape) -> int:
    if shape and isinstance(shape[0], (tuple, list)):
        return sum(_point_size(M, s) for s in shape)
    return max(math.prod(shape[len(shape) - M.ndim :]) if M.ndim else 1, 1)


def _tol(M: Manifold, shape, x, factor: float = 100.0) -> float:
    return factor * _point_size(M, shape) * _eps(x)


def _random(M: Manifold, shape, dtype, device, gen) -> object:
    if shape and isinstance(shape[0], (tuple, list)):
        return M.random(*shape, dtype=dtype, device=device, generator=gen)
    return M.random(*shape, dtype=dtype, device=device, generator=gen)


def _flatten(x) -> Tensor:
    """A point or a nest of them ((A, C) of a product) as one flat real vector."""
    leaves = _leaves(x)
    return flatten(leaves[0] if len(leaves) == 1 else tuple(leaves))


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
    err = _norm(_map(torch.sub, M.dissolve(X), X))
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
    e = n / n.norm().clamp_min(1e-300) + 0.5 * t / t.norm().clamp_min(1e-300)
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
    X = _random(M, shape, dtype, device, gen)
    X = _axpy(0.1, _randn_like(X, gen), X)
    out = []
    if M.constraint(X).numel() == 0:  # nothing to differentiate but the identity
        names = ("dissolve",)
    else:
        names = ("constraint", "dissolve", "penalty")
    for name in names:
        fn = getattr(M, name)
        leaves = [t.detach().requires_grad_() for t in _leaves(X)]

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
    batched = isinstance(shape[0], int) if shape else True
    if not batched:  # product manifolds: tuples, checked per part by the kit on each factor
        X = _random(M, shape, dtype, device, gen)
        A = M.dissolve(X)
        same = all(
            a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
            for a, x in zip(_leaves(A), _leaves(X))
        )
        out.append(CheckResult("dtype/device/shape", shape, same))
        return out
    bshape = (2, 3, *shape)
    X = _random(M, bshape, dtype, device, gen)
    X = X + 0.1 * torch.randn(X.shape, dtype=dtype, device=device, generator=gen)
    A = M.dissolve(X)
    ok = A.shape == X.shape and A.dtype == X.dtype and A.device == X.device
    out.append(
        CheckResult("dtype/device/shape", bshape, ok, f"{tuple(A.shape)} {A.dtype} {A.device}")
    )
    C, v, p = M.constraint(X), M.violation(X), M.penalty(X)
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


def _wide(x):
    """x in float64 (complex128 for complex): the precision of the finite-difference references."""
    return _map(lambda t: t.to(torch.complex128 if t.is_complex() else torch.float64), x)


def _off_manifold(M, shape, dtype, device, gen):
    """A random point of M moved off it by 0.1 * Gaussian noise, and a unit direction."""
    X = _random(M, shape, dtype, device, gen)
    X = _axpy(0.1, _randn_like(X, gen), X)
    E = _randn_like(X, gen)
    return X, _map(lambda e: e / max(_norm(E), 1e-300), E)


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
    X = _map(lambda *ts: torch.stack(ts), *points)
    out = []
    for name in (*_FUNC_MAPS, "penalty"):
        fn, label = getattr(M, name), f"func.vmap {name}"
        try:
            batched = torch.func.vmap(fn)(X)
        except Exception as err:
            out.append(_transform_failure(label, shape, err))
            continue
        looped = _map(lambda *ts: torch.stack(ts), *[fn(p) for p in points])
        err = _norm(_map(torch.sub, batched, looped))
        tol = _tol(M, shape, X) * max(1.0, _norm(looped))
        out.append(CheckResult(label, shape, err <= tol, f"|vmap - loop| {err:.2e} <= {tol:.2e}"))
    return out


def _check_bad_input(M, device) -> list[CheckResult]:
    out = []
    for bad in M.bad_shapes():
        try:
            M.constraint(torch.zeros(bad, dtype=torch.float64, device=device))
            ok, detail = False, "no error"
        except ValueError as err:
            ok, detail = M.name in str(err), str(err)[:120]
        out.append(CheckResult("bad shape -> ValueError", bad, ok, detail))
    good = M.example_shapes()[0]
    if good and isinstance(good[0], int):
        try:
            M.dissolve(torch.zeros(good, dtype=torch.int64, device=device))
            ok, detail = False, "no error"
        except TypeError as err:
            ok, detail = True, str(err)[:120]
        out.append(CheckResult("int dtype -> TypeError", good, ok, detail))
    return out


CHECKS = (
    _check_feasible,
    _check_fixed_point,
    _check_jacobian,
    _check_quadratic,
    _check_autograd,
    _check_batch_dtype,
    _check_func_jvp,
    _check_func_vmap,
    _check_func_hessian,
)


def check_manifold(
    M: Manifold,
    shapes: Sequence[tuple] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
    raise_on_failure: bool = False,
) -> Report:
    """Run the conformance checks on M; returns a :class:`Report` (falsy on failure).

    Checks, for each shape: (1) ``random`` and ``project`` are feasible;
    (2) ``dissolve(X) == X`` on M; (3) DA(X) maps into T_X M and fixes it;
    (4) A pulls points back quadratically; (5) gradcheck and gradgradcheck of
    ``constraint``, ``dissolve``, ``penalty`` (float64/complex128 only);
    (6) dtype, device and batch shapes are preserved and batched = per point;
    (7) ``torch.func`` composes: ``jvp`` of ``dissolve``, ``constraint`` and
    ``dissolve_with_constraint`` equals finite differences, ``vmap`` of those
    and ``penalty`` equals a loop, and ``hessian`` of ``penalty`` equals finite
    differences of its gradient (see Note [torch.func checks]);
    then that bad shapes raise ``ValueError`` and integer input ``TypeError``.

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
    gen = torch.Generator(device=device or "cpu").manual_seed(seed)
    report = Report(M.name)
    for shape in shapes or M.example_shapes():
        shape = tuple(shape)
        for check in CHECKS:
            try:
                report.results.extend(check(M, shape, dtype, device, gen))
            except Exception as err:  # a crash is a failure, reported with its cause
                report.results.append(
                    CheckResult(check.__name__[7:], shape, False, repr(err)[:200])
                )
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
        return _map(lambda e: e * (scale / max(n, 1e-300)), E)

    return st.integers(0, 2**31 - 1).map(build)
