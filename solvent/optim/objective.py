"""h, its gradient and Hessian-vector products on SciPy's flat float64 vectors.

One evaluation per point: the value and gradient come from one forward and
one backward pass; for the second-order methods that backward keeps its graph
(``create_graph=True``) so every Hessian-vector product at the same point is a
single extra backward through it (double backward, exact, no finite
differences). The divergence guard (Note [divergence guard] in
``solvent.optim.minimize``) reads the penalty this pass already computed, so
it costs nothing.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import Tensor

from solvent.exceptions import ObjectiveError
from solvent.optim.cdf import DissolvedFunction
from solvent.optim.points import Packer

__all__ = ["Diverged", "Evaluation", "Objective"]


class Diverged(Exception):
    """Raised inside SciPy's loop to abort a solve that left the manifold's neighbourhood."""


class Evaluation:
    """h, f(A(X)), the violation and the gradient at one flat point, kept for reuse."""

    def __init__(self, x: np.ndarray, xt: Tensor, h: Tensor, g: Tensor, graph: bool,
                 objective: float, violation: float) -> None:
        self.x, self.xt, self.h, self.g, self.graph = x, xt, h, g, graph
        self.objective, self.violation = objective, violation
        self.grad_norm = float(torch.linalg.vector_norm(g.detach()))


def _violation(pen: Tensor) -> float:
    value = float(pen.detach())
    return math.sqrt(max(2.0 * value, 0.0)) if math.isfinite(value) else math.inf


class Objective:
    """SciPy's ``fun`` (value and gradient together), ``hessp`` and ``callback`` for one h."""

    def __init__(self, h: DissolvedFunction, packer: Packer, dtype: torch.dtype,
                 device: torch.device, *, max_violation: float, second_order: bool) -> None:
        self.h, self.packer, self.dtype, self.device = h, packer, dtype, device
        self.max_violation, self.second_order = max_violation, second_order
        self.nfev = self.njev = self.nhev = 0
        self.last: Evaluation | None = None

    def evaluate(self, x: np.ndarray, graph: bool = False) -> Evaluation:
        """The evaluation at x, reusing the last one when x is the same point."""
        last = self.last
        if last is not None and (last.graph or not graph) and np.array_equal(last.x, x):
            return last
        self.nfev += 1
        self.njev += 1
        xt = self.packer.from_numpy(x, self.dtype, self.device).requires_grad_(True)
        x = np.array(x, dtype=np.float64)
        with torch.enable_grad():
            h, fA, pen = self.h.parts(self.packer.unflatten(xt))
            violation = _violation(pen)
            if not self._finite(h, fA, violation):  # far off M: a point to reject, see guard()
                h, g = h.new_tensor(math.inf), torch.zeros_like(xt)
                self.last = Evaluation(x, xt, h, g, graph, math.nan, violation)
                return self.last
            (g,) = torch.autograd.grad(h, xt, create_graph=graph)
        self.last = Evaluation(x, xt, h, g, graph, float(fA.detach()), violation)
        return self.last

    def fun(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``(h(x), grad h(x))`` as SciPy wants them (``jac=True``)."""
        ev = self.evaluate(x, graph=self.second_order)
        return float(ev.h.detach()), self.packer.to_numpy(ev.g)

    def hessp(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The exact product Hess h(x) p, by one backward through the stored gradient graph."""
        ev = self.evaluate(x, graph=True)
        self.nhev += 1
        if not ev.g.requires_grad:  # h is affine in x, or ev is a rejected point
            return np.zeros_like(p, dtype=np.float64)
        v = self.packer.from_numpy(p, self.dtype, self.device)
        # d(g . v)/dx rather than grad_outputs=v: the same product, without torch's
        # first-call import of its symbolic-shape machinery (seconds) for grad_outputs.
        (Hv,) = torch.autograd.grad((ev.g * v).sum(), ev.xt, retain_graph=True)
        return self.packer.to_numpy(Hv)

    def guard(self, ev: Evaluation) -> None:
        """Raise :class:`Diverged` if an iterate left the region where h is trustworthy."""
        if not (math.isfinite(ev.violation) and ev.violation <= self.max_violation):
            raise Diverged(
                f"violation ||C(X)|| = {ev.violation:.3g} exceeded max_violation "
                f"{self.max_violation:.3g} (h with beta = {self.h.beta:.3g} is unbounded below "
                "off the manifold)"
            )

    def _finite(self, h: Tensor, fA: Tensor, violation: float) -> bool:
        """Whether h is finite; a non-finite h near M is the objective's fault and an error.

        Far from M (violation above max_violation) a non-finite h (overflow, or f
        outside its domain) is reported to SciPy as +inf, which its line searches
        and trust regions reject by shrinking the step; an accepted iterate out
        there is a divergence (guard()).
        """
        if bool(torch.isfinite(h)):
            return True
        if not violation <= self.max_violation:
            return False
        raise ObjectiveError(
            f"the objective f returned {float(fA.detach())} at a point near the manifold "
            f"(violation {violation:.3g}); f must be finite there. Check f for log/sqrt/division "
            "of values that can reach zero or become negative."
        )


class Clock:
    """Seconds since construction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
