"""Hypothesis profiles and shared fixtures.

Profiles (HYPOTHESIS_PROFILE=...):
  ci (default)  derandomized, no example database: `make test` and CI see the
                same examples on every run and on every fresh clone.
  dev           the ci profile with fewer examples, for a quick local loop.
  thorough      random exploration with many examples; what it finds becomes
                a permanent ``@example`` regression in the test.
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=15, derandomize=True, database=None, **_common)
settings.register_profile("dev", max_examples=5, derandomize=True, database=None, **_common)
settings.register_profile("thorough", max_examples=200, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(int(os.environ.get("SOLVENT_TEST_THREADS", "1")))


@pytest.fixture
def fresh_registry():
    """A plugin manager and registry rebuilt for this test, and again after it."""
    import solvent.plugins as plugins

    plugins.reset()
    yield plugins
    plugins.reset()
