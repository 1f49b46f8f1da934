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

from collections.abc import Sequence

import torch

from solvent.manifolds.base import Manifold
from solvent.testing._chart import (
    _check_chart_lands,
    _check_chart_lift,
    _check_chart_rank,
    _check_product_factors,
)
from solvent.testing._common import _check_autograd, _check_bad_input, _check_batch_dtype
from solvent.testing._equality import (
    _check_feasible,
    _check_fixed_point,
    _check_jacobian,
    _check_quadratic,
)
from solvent.testing._func import _check_func_hessian, _check_func_jvp, _check_func_vmap
from solvent.testing._report import CheckResult, Report
from solvent.testing.strategies import perturbations, points, shapes, well_conditioned

__all__ = [
    "CHART_CHECKS",
    "EQUALITY_CHECKS",
    "FUNC_CHECKS",
    "CheckResult",
    "Report",
    "check_manifold",
    "check_torch_func",
    "checks_for",
    "well_conditioned",
    "points",
    "perturbations",
    "shapes",
]


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


def checks_for(M: Manifold) -> tuple:
    """The checks M's kind calls for; a product with a chart factor is checked factor by factor.

    Example:
        >>> import solvent
        >>> from solvent.testing import EQUALITY_CHECKS, checks_for
        >>> checks_for(solvent.manifold("stiefel")) == EQUALITY_CHECKS
        True
    """
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
    report = _run(M, checks_for(M), shapes, dtype, device, seed)
    report.results.extend(_check_bad_input(M, device))
    if raise_on_failure and not report.ok:
        raise AssertionError(report.format())
    return report
