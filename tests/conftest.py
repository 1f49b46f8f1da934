"""Hypothesis profiles and shared fixtures.

Profiles (HYPOTHESIS_PROFILE=...):
  ci (default)  derandomized, no example database: `make test` and CI see the
                same examples on every run and on every fresh clone.
  dev           the ci profile with fewer examples, for a quick local loop.
  thorough      random exploration with many examples; what it finds becomes
                a permanent ``@example`` regression in the test.

Markers (pyproject.toml): ``slow`` (run by ``make test``) and ``cuda``
(deselected by default; ``pytest -m cuda`` runs them, and they fail, never
skip, where there is no CUDA device).
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``cuda`` tests unless the ``-m`` expression names them.

    addopts' ``-m 'not cuda'`` does this for a plain run; a run with its own
    ``-m`` (``-m 'not slow'``, say) replaces that expression, and must not pull
    the GPU tests in by accident.
    """
    if "cuda" in (config.getoption("markexpr") or ""):
        return
    cuda = [item for item in items if item.get_closest_marker("cuda") is not None]
    if cuda:
        config.hook.pytest_deselected(items=cuda)
        items[:] = [item for item in items if item.get_closest_marker("cuda") is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``cuda`` test on a machine without CUDA is an error, never a silent skip."""
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.fail(
            f"{item.nodeid} is a cuda test and this machine has no CUDA device "
            f"(torch {torch.__version__}, torch.version.cuda={torch.version.cuda}); run "
            "`pytest -m cuda` on a machine with a GPU, or leave -m at its default",
            pytrace=False,
        )


@pytest.fixture
def fresh_registry():
    """A plugin manager and registry rebuilt for this test, and again after it."""
    import solvent.plugins as plugins

    plugins.reset()
    yield plugins
    plugins.reset()
