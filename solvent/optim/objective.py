"""h, its gradient and Hessian-vector products on a flat real tensor, on the point's device.

One evaluation per point: the value and gradient come from one forward and
one backward pass (a point the torch-native solvers reject costs the manifold's
A(X) and C(X) only: Note [divergence guard] in ``solvent.optim.minimize``); for
the second-order methods that backward keeps its graph (``create_graph=True``)
so every Hessian-vector product at the same point is a single extra backward
through it (double backward, exact, no finite differences). The numbers a
solver reads (h, f(A(X)), the violation and ||grad h||) come back to the host
together, one transfer per evaluation. The
divergence guard (Note [divergence guard] in ``solvent.optim.minimize``) reads
the penalty this pass already computed, so it costs nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from solvent._points import Layout, flatten, parts
from solvent.exceptions import ObjectiveError
from solvent.optim.cdf import DissolvedFunction, scalar_value

__all__ = ["Diverged", "Evaluation", "Objective"]


class Diverged(Exception):
    """Raised inside a solver's loop to abort a solve that left the manifold's neighbourhood."""


class Evaluation:
    """h, f(A(X)), the violation and the gradient at one flat point x.

    Attributes:
        x: the flat point (a leaf requiring grad when ``graph``).
        h: h(x) as a 0-d tensor (keeps the graph for Hessian-vector products when ``graph``).
        g: grad h(x), flat.
        value, objective, violation, grad_norm: h(x), f(A(x)), ||C(x)||, ||g|| as floats.
        rejected: x lies where h is not trusted (non-finite there); value is +inf.
    """

    def __init__(self, x: Tensor, h: Tensor, g: Tensor, graph: bool, value: float,
                 objective: float, violation: float, grad_norm: float,
                 rejected: bool = False) -> None:
        self.x, self.h, self.g, self.graph = x, h, g, graph
        self.value, self.objective, self.violation = value, objective, violation
        self.grad_norm, self.rejected = grad_norm, rejected


class Objective:
    """Evaluations of one h on flat tensors, counted; Hessian-vector products; the guard.

    ``reject_outside``: a point whose violation exceeds ``max_violation`` is
    reported as h = +inf (rejected) rather than evaluated: the torch-native
    solvers use this as their step bound (Note [divergence guard]).

    Counts: ``nfev`` calls of f, ``njev`` gradients, ``nhev`` Hessian-vector
    products, ``nrej`` trial points rejected before f was called.
    """

    def __init__(self, h: DissolvedFunction, layout: Layout, *, max_violation: float,
                 reject_outside: bool = False) -> None:
        self.h, self.layout = h, layout
        self.max_violation, self.reject_outside = max_violation, reject_outside
        self.nfev = self.njev = self.nhev = self.nrej = 0
        self.retract_trials = False
        M = h.manifold
        self._dissolve = getattr(M, "_dissolve", M.dissolve)  # A alone: no C for a retraction

    def evaluate(self, x: Tensor, graph: bool = False,
                 choose_beta: Callable[[Tensor], float] | None = None) -> Evaluation:
        """h and grad h at the flat point x (x is not modified).

        A point beyond ``max_violation`` under ``reject_outside`` costs A(X) and
        C(X) only: f is not called (``nrej`` counts those). ``choose_beta``, for
        the start of a solve, is called with grad f at A(x) (flat, real) before h
        is formed, and sets ``h.beta`` (Note [beta estimate]); that evaluation
        also checks that f depends on X and has a finite gradient there.
        """
        xt = x.detach().requires_grad_(True)
        with torch.enable_grad():
            A, C = self.h.pair(self.layout.unflatten(xt))
            pen = self.h.manifold.penalty_from_constraint(C)
            if self.reject_outside and C.numel():
                violation = _violation(float(pen.detach()))
                if not violation <= self.max_violation:
                    self.nrej += 1
                    return _rejected_evaluation(xt, pen, violation)
            self.nfev += 1
            fA = scalar_value(self.h.f(A))
            if choose_beta is not None:
                g = self._start_gradient(xt, A, fA, pen, graph, choose_beta)
            h = fA + self.h.beta * pen
            if choose_beta is None:
                self.njev += 1
                (g,) = torch.autograd.grad(h, xt, create_graph=graph)
        # The numbers the solver reads, in one host read (a non-finite h costs its
        # backward before _rejected sees it; that is rare, and counted in njev).
        value, objective, pen_value, grad_norm = torch.stack(
            [h.detach(), fA.detach(), pen.detach(), torch.linalg.vector_norm(g.detach())]
        ).tolist()
        violation = _violation(pen_value)
        if self._rejected(value, objective, violation):
            return _rejected_evaluation(xt, h, violation)
        return Evaluation(xt, h, g, graph, value, objective, violation, grad_norm)

    def _start_gradient(self, xt: Tensor, A, fA: Tensor, pen: Tensor, graph: bool,
                        choose_beta: Callable[[Tensor], float]) -> Tensor:
        """grad h at the start, from grad f(A) and grad penalty apart, with beta chosen between."""
        if not fA.requires_grad:
            raise ObjectiveError(
                "the objective's value does not depend on X through autograd: f detaches its "
                "argument (.detach(), .item(), .numpy(), torch.no_grad()) or ignores it. Write f "
                "with torch operations on X so that it can be differentiated"
            )
        leaves = [xt, *parts(A)]
        self.njev += 1
        gf, *GA = torch.autograd.grad(fA, leaves, create_graph=graph, retain_graph=True,
                                      allow_unused=True)
        G = flatten(tuple(torch.zeros_like(a) if g is None else g for a, g in zip(parts(A), GA)))
        if gf is None or not bool(torch.isfinite(G).all()):
            what = "does not reach X" if gf is None else "is not finite (NaN or Inf)"
            raise ObjectiveError(
                f"the gradient of the objective f {what} at the starting point; check f for "
                "operations without a derivative there (sqrt or norm at 0, log of 0, abs at 0, "
                "division by 0) and for tensors built outside autograd"
            )
        self.h.beta = float(choose_beta(G.detach()))
        if not (pen.requires_grad and self.h.beta):
            return gf
        (gp,) = torch.autograd.grad(pen, xt, create_graph=graph)
        return gf + self.h.beta * gp

    def retract(self, x: Tensor) -> Tensor:
        """A(x) as the flat trial point, when ``retract_trials`` (Note [dissolved steps])."""
        if not self.retract_trials:
            return x
        with torch.no_grad():
            return self.layout.flatten(self._dissolve(self.layout.unflatten(x)))

    def hvp(self, ev: Evaluation, v: Tensor) -> Tensor:
        """The exact product Hess h(x) v, one backward through the stored gradient graph."""
        self.nhev += 1
        if not ev.g.requires_grad:  # h is affine in x, or ev is a rejected point
            return torch.zeros_like(v)
        # d(g . v)/dx rather than grad_outputs=v: the same product, without torch's
        # first-call import of its symbolic-shape machinery (seconds) for grad_outputs.
        (Hv,) = torch.autograd.grad((ev.g * v).sum(), ev.x, retain_graph=True)
        return Hv

    def guard(self, ev: Evaluation) -> None:
        """Raise :class:`Diverged` if an iterate left the region where h is trustworthy."""
        if not (math.isfinite(ev.violation) and ev.violation <= self.max_violation):
            raise Diverged(
                f"violation ||C(X)|| = {ev.violation:.3g} exceeded max_violation "
                f"{self.max_violation:.3g} (h with beta = {self.h.beta:.3g} is unbounded below "
                "off the manifold)"
            )

    def _rejected(self, value: float, objective: float, violation: float) -> bool:
        """Whether to report x as h = +inf; a non-finite h near M is the objective's fault.

        Far from M (violation above max_violation) a non-finite h (overflow, or f
        outside its domain) is reported as +inf, which line searches and trust
        regions reject by shrinking the step; an accepted iterate out there is a
        divergence (guard()). With ``reject_outside`` every point out there is.
        """
        outside = not violation <= self.max_violation
        if outside and self.reject_outside:
            return True
        if math.isfinite(value):
            return False
        if outside or not violation <= 1.0:  # "near" is within 1 even with no guard
            return True
        raise ObjectiveError(
            f"the objective f returned {objective} at a point near the manifold "
            f"(violation {violation:.3g}); f must be finite there. Check f for log/sqrt/division "
            "of values that can reach zero or become negative."
        )


def _violation(pen: float) -> float:
    """||C|| from 1/2 ||C||^2."""
    return math.sqrt(max(2.0 * pen, 0.0)) if math.isfinite(pen) else math.inf


def _rejected_evaluation(xt: Tensor, like: Tensor, violation: float) -> Evaluation:
    return Evaluation(xt, like.new_tensor(math.inf), torch.zeros_like(xt), False, math.inf,
                      math.nan, violation, math.nan, rejected=True)


class Clock:
    """Seconds since construction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
