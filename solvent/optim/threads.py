"""Keep SciPy's BLAS threads from fighting torch's.

# Note [threads]
# ~~~~~~~~~~~~~~
# minimize() alternates torch (the objective, its gradient and Hessian-vector
# products, on torch's OpenMP pool) with SciPy's own vector work (line
# searches, CG and L-BFGS updates: dot products and axpys on NumPy arrays,
# through NumPy's bundled OpenBLAS and its own thread pool). Both pools
# busy-wait after their work, so on a machine with few cores each steals the
# other's cores: measured here (2 cores, St(1000, 20), CG, 48 iterations) the
# solve took 2.96 s with both pools at 2 threads and 0.77-1.09 s with NumPy's
# BLAS at 1 thread. SciPy's vector work is O(N) per call and gains nothing from
# threads, so for the duration of a solve NumPy/SciPy's BLAS runs on one thread.
# torch's own BLAS (MKL or OpenBLAS inside torch's wheel) is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

__all__ = ["scipy_blas_single_threaded"]


@contextlib.contextmanager
def scipy_blas_single_threaded() -> Iterator[None]:
    """Run the body with the BLAS libraries loaded outside torch limited to one thread.

    Example:
        >>> import numpy as np
        >>> with scipy_blas_single_threaded():
        ...     float(np.ones(3) @ np.ones(3))
        3.0
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional at run time: without it, nothing is limited
        yield
        return
    torch_dir = os.path.dirname(torch.__file__)
    ctl = ThreadpoolController()
    paths = [
        lib.filepath
        for lib in ctl.lib_controllers
        if lib.user_api == "blas" and not lib.filepath.startswith(torch_dir)
    ]
    if not paths:
        yield
        return
    with ctl.select(filepath=paths).limit(limits=1):
        yield
