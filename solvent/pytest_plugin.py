"""A pytest plugin (entry point ``pytest11``): a manifold plugin's test suite in one line.

Installed with solvent, so any test suite can write either::

    from solvent.pytest_plugin import conformance_test

    test_special_linear = conformance_test("special_linear")   # one test per dtype

or, with the fixture::

    def test_special_linear(solvent_conformance):
        solvent_conformance("special_linear")

A name is looked up in the registry, so the test also proves that the plugin's
entry point is installed and registers it; a Manifold instance is checked as
it is. Both run :func:`solvent.testing.check_manifold` in float64, float32 and
(where the manifold supports it) complex128, and fail with the readable report.

This module is imported by every pytest run in an environment with solvent,
so it imports torch only when a check runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

__all__ = ["DEFAULT_DTYPES", "check_conformance", "conformance_test", "solvent_conformance"]

DEFAULT_DTYPES = ("float64", "float32", "complex128")


def _dtype(dtype):
    import torch

    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def check_conformance(
    manifold,
    *,
    dtypes: Sequence | None = None,
    shapes: Sequence[tuple] | None = None,
    seed: int = 0,
    device=None,
) -> list:
    """Run the conformance kit on a manifold; fail the current test with the report.

    Args:
        manifold: a registered name or a Manifold instance.
        dtypes: names or torch dtypes; default float64, float32 and, if the
            manifold supports complex numbers, complex128.
        shapes: point shapes (default: the manifold's ``example_shapes()``).
        seed: seeds the random inputs.
        device: where to run (default CPU).

    Returns:
        One :class:`solvent.testing.Report` per dtype, all passing.

    Example:
        >>> from solvent.pytest_plugin import check_conformance
        >>> [r.ok for r in check_conformance("euclidean", dtypes=["float64"])]
        [True]
    """
    import solvent
    from solvent.testing import check_manifold

    M = solvent.manifold(manifold)
    if dtypes is None:
        dtypes = [d for d in DEFAULT_DTYPES if M.supports_dtype(_dtype(d))]
    reports, failed = [], []
    for dtype in map(_dtype, dtypes):
        report = check_manifold(M, shapes=shapes, dtype=dtype, device=device, seed=seed)
        reports.append(report)
        if not report.ok:
            failed.append(f"[{str(dtype).replace('torch.', '')}] {report.format()}")
    if failed:
        pytest.fail("\n\n".join(failed), pytrace=False)
    return reports


def conformance_test(manifold, *, dtypes: Sequence = DEFAULT_DTYPES, **kwargs) -> Callable:
    """A test function checking a manifold, one test per dtype: ``test_x = conformance_test("x")``.

    Complex dtypes are skipped (with the reason) for a real-only manifold.
    Keyword arguments go to :func:`check_conformance` (``shapes``, ``seed``, ``device``).

    Example:
        >>> from solvent.pytest_plugin import conformance_test
        >>> test_euclidean = conformance_test("euclidean")
        >>> test_euclidean.__name__
        'test_euclidean_conforms'
    """
    label = manifold if isinstance(manifold, str) else getattr(manifold, "name", "manifold")

    @pytest.mark.parametrize("dtype", [str(d).replace("torch.", "") for d in dtypes])
    def test(dtype: str) -> None:
        import solvent

        M = solvent.manifold(manifold)
        if not M.supports_dtype(_dtype(dtype)):
            pytest.skip(f"{M.name} does not take {dtype} points")
        check_conformance(M, dtypes=[dtype], **kwargs)

    test.__name__ = test.__qualname__ = f"test_{label}_conforms"
    test.__doc__ = f"{label} passes solvent's conformance kit."
    return test


@pytest.fixture
def solvent_conformance() -> Callable:
    """:func:`check_conformance`: ``solvent_conformance("my_manifold")`` in a test."""
    return check_conformance
