"""Hypothesis profiles (HYPOTHESIS_PROFILE=dev|ci) and shared fixtures."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(int(os.environ.get("SOLVENT_TEST_THREADS", "1")))


@pytest.fixture
def fresh_registry():
    """A plugin manager and registry rebuilt for this test, and again after it."""
    import solvent.plugins as plugins

    plugins.reset()
    yield plugins
    plugins.reset()
