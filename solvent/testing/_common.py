"""Checks for both kinds: gradients, batching and dtypes, bad input."""

from __future__ import annotations

from collections.abc import Callable

import torch

from solvent._points import parts
from solvent.testing._helpers import (
    _free_input,
    _is_product_shape,
    _tol,
)
from solvent.testing._report import CheckResult


def _check_autograd(M, shape, dtype, device, gen) -> list[CheckResult]:
    if dtype not in (torch.float64, torch.complex128):
        return []
    X = _free_input(M, shape, dtype, device, gen)
    out = []
    names: tuple[str, ...]
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


def _refuses(fn: Callable, X, error: type[BaseException]) -> tuple[bool, str]:
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
