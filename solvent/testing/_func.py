"""torch.func checks: jvp and hessian against finite differences, vmap against a loop."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import map_parts
from solvent.testing._helpers import (
    _flat_fn,
    _flatten,
    _free_input,
    _norm,
    _randn_like,
    _stack_outputs,
    _sub_outputs,
    _tol,
    _wide,
)
from solvent.testing._report import CheckResult

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
                tangent = torch.func.jvp(fn, (x,), (_flatten(E),))[1]  # (output, tangent)
        except Exception as exc:
            out.append(_transform_failure(label, shape, exc))
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
    except Exception as exc:
        return [_transform_failure("func.hessian penalty", shape, exc)]
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
        except Exception as exc:
            out.append(_transform_failure(label, shape, exc))
            continue
        looped = _stack_outputs([fn(p) for p in points])
        err = _norm(_sub_outputs(batched, looped))
        tol = _tol(M, shape, X) * max(1.0, _norm(looped))
        out.append(CheckResult(label, shape, err <= tol, f"|vmap - loop| {err:.2e} <= {tol:.2e}"))
    return out
