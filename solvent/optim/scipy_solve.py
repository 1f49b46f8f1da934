"""SciPy's solvers on h: the float64 NumPy view of an :class:`Objective`.

SciPy works on one flat float64 NumPy vector on the host. This module is the
only place that converts (and the only one importing SciPy, lazily from
``minimize``, so that ``import solvent`` does not load it). Each SciPy call
``fun(x)`` is one evaluation (value and gradient from one graph); SciPy's
``callback(xk)`` is answered from the same evaluation when xk is the point
last evaluated, which it is for the line-search methods' accepted steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from solvent.optim.objective import Evaluation, Objective
from solvent.optim.threads import scipy_blas_single_threaded

__all__ = ["NumpyObjective", "solve_scipy"]


class NumpyObjective:
    """SciPy's ``fun`` (value and gradient together) and ``hessp`` for one Objective."""

    def __init__(self, obj: Objective, second_order: bool) -> None:
        self.obj, self.second_order = obj, second_order
        self.dtype, self.device = obj.layout.real_dtype, obj.layout.device
        self.last: tuple[np.ndarray, Evaluation] | None = None

    def to_tensor(self, x: np.ndarray) -> Tensor:
        """A torch copy of SciPy's vector (SciPy may reuse its buffer)."""
        return torch.tensor(np.asarray(x, dtype=np.float64), dtype=self.dtype, device=self.device)

    def evaluate(self, x: np.ndarray, graph: bool = False) -> Evaluation:
        """The evaluation at x, reusing the last one when x is the same point."""
        if self.last is not None:
            x_last, ev = self.last
            if (ev.graph or not graph) and np.array_equal(x_last, x):
                return ev
        ev = self.obj.evaluate(self.to_tensor(x), graph=graph)
        self.last = (np.array(x, dtype=np.float64), ev)
        return ev

    def fun(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``(h(x), grad h(x))`` as SciPy wants them (``jac=True``)."""
        ev = self.evaluate(x, graph=self.second_order)
        return ev.value, to_numpy(ev.g)

    def hessp(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The exact product Hess h(x) p."""
        ev = self.evaluate(x, graph=True)
        return to_numpy(self.obj.hvp(ev, self.to_tensor(p)))


def to_numpy(x: Tensor) -> np.ndarray:
    """A float64 NumPy vector for SciPy (no copy when x is already float64 on the CPU)."""
    x = x.detach()
    if x.dtype != torch.float64 or x.device.type != "cpu":
        x = x.to(device="cpu", dtype=torch.float64)
    return x.numpy()


def solve_scipy(obj: Objective, start: Evaluation, method: str, second_order: bool,
                options: dict, on_iterate: Callable[[Evaluation], None]
                ) -> tuple[Tensor, Evaluation, str]:
    """Run ``scipy.optimize.minimize`` on obj from the evaluated start; ``on_iterate`` sees each
    accepted iterate.

    Returns the final point, its evaluation and SciPy's message. Exceptions raised by
    ``on_iterate`` (convergence, divergence, a user stop) propagate through SciPy.
    """
    npobj = NumpyObjective(obj, second_order)
    x0 = to_numpy(start.x).copy()
    npobj.last = (x0.copy(), start)  # SciPy's first call is answered from it
    hessp = npobj.hessp if second_order else None

    def callback(xk: np.ndarray) -> None:
        on_iterate(npobj.evaluate(xk))

    with scipy_blas_single_threaded():  # Note [threads] in optim/threads.py
        res = scipy.optimize.minimize(npobj.fun, x0, jac=True, hessp=hessp,
                                      method=method, callback=callback, options=options)
    final = npobj.evaluate(res.x)
    return final.x.detach(), final, str(res.message)
