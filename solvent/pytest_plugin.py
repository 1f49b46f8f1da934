"""A pytest plugin (entry point ``pytest11``) for manifold plugin authors.

Example (in a plugin's test suite)::

    def test_my_manifold(solvent_conformance):
        solvent_conformance(MyManifold())
"""

from __future__ import annotations

import pytest


@pytest.fixture
def solvent_conformance():
    """A function that runs :func:`solvent.testing.check_manifold` and fails the test on failure."""
    from solvent.testing import check_manifold

    def run(M, **kwargs):
        report = check_manifold(M, **kwargs)
        if not report.ok:
            pytest.fail(report.format(), pytrace=False)
        return report

    return run
