"""Note [threads]: in a solve NumPy/SciPy's BLAS runs on one thread; torch's pool is untouched."""

import numpy as np
import pytest
import torch

from solvent.optim.threads import scipy_blas_single_threaded

threadpoolctl = pytest.importorskip("threadpoolctl")


def _outside_torch_blas():
    import os

    torch_dir = os.path.dirname(torch.__file__)
    return [
        info
        for info in threadpoolctl.threadpool_info()
        if info["user_api"] == "blas" and not info["filepath"].startswith(torch_dir)
    ]


def test_numpy_blas_limited_inside_and_restored_after():
    np.ones(4) @ np.ones(4)  # make sure NumPy's BLAS is loaded
    before = {i["filepath"]: i["num_threads"] for i in _outside_torch_blas()}
    assert before, "NumPy's BLAS should be visible to threadpoolctl"
    torch_threads = torch.get_num_threads()
    with scipy_blas_single_threaded():
        assert all(i["num_threads"] == 1 for i in _outside_torch_blas())
        assert torch.get_num_threads() == torch_threads
    after = {i["filepath"]: i["num_threads"] for i in _outside_torch_blas()}
    assert after == before


def test_minimize_runs_under_the_limit(monkeypatch):
    import solvent.optim.scipy_solve as mod  # the only module that runs SciPy

    seen = []
    real = mod.scipy_blas_single_threaded

    def spy():
        seen.append(True)
        return real()

    monkeypatch.setattr(mod, "scipy_blas_single_threaded", spy)
    H = torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64))
    res = solvent_minimize(lambda X: -torch.trace(X.T @ H @ X), (4, 2))
    assert seen and res.success
    assert abs(res.fun + 5.0) < 1e-8


def solvent_minimize(f, shape):
    import solvent.optim

    return solvent.optim.minimize(f, shape=shape, manifold="stiefel", seed=0, method="L-BFGS-B")
