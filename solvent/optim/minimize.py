"""minimize(): a solver on the constraint dissolving function, guarded against divergence.

# Note [divergence guard]
# ~~~~~~~~~~~~~~~~~~~~~~~
# h(X) = f(A(X)) + beta/2 ||C(X)||^2 matches the constrained problem only in a
# neighbourhood of M, and for too small a beta it is unbounded below away from
# M (Note [beta estimate] in solvent.optim.beta). A solver then runs away with
# h -> -inf while its own tests may still report success. So every accepted
# iterate's violation ||C(X_k)|| is read (free: the evaluation computed the
# penalty) and, past ``max_violation`` (default 1: the scale where A stops being
# a projection-like map, e.g. Stiefel's A(X) loses rank at X^T X = 3 I), the
# solve is aborted by an exception thrown through the solver. The torch-native
# methods go further and never evaluate h out there: a trial point beyond
# max_violation counts as h = +inf, so their steps are bounded by the region
# (Note [bounded Newton step] in solvent.optim.native); for them a too-small
# beta shows as a solve that stalls near the region's edge (an unconverged stop
# at a violation above max_violation / 2), which counts as a divergence too.
# (For SciPy a trial point out there where h overflows is reported as +inf,
# which its line searches and trust regions reject: an overlong trial step is
# no divergence.) With beta="auto" minimize restarts from the projection of the
# last good iterate with beta * beta_growth, at most ``max_restarts`` times
# (default 3); with an explicit beta the default is no restart. Whatever the
# restarts, a run whose last solve diverged returns success=False, saying so.

# Note [stopping test]
# ~~~~~~~~~~~~~~~~~~~~
# success means one thing for every method: the Riemannian gradient norm
# reported in the result, ||DA(X)^* grad f(X)|| at the returned feasible point
# X = project(X_k) (Note [riemannian gradient]), is <= gtol, and the run did not
# diverge or get stopped. SciPy's own stop alone is never success. Each method's
# iterates are checked in one place (_Run.accept): when ||grad h(X_k)||_2 <= gtol
# the iterate is projected and its Riemannian gradient norm computed; the solve
# stops there if that meets gtol, and goes on otherwise. SciPy's own tests are
# set ten times tighter, so they rarely stop first; when a SciPy method stops on
# its own short of gtol (a line search lost precision, float32 rounding, its
# relative-decrease test), the solve goes on from its last iterate with the
# torch-native method of the same order (L-BFGS after L-BFGS-B, BFGS and CG;
# trust-region after trust-ncg and trust-krylov), whose decrease tests allow for
# rounding (Note [bounded Newton step]). The message says when that happened.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from solvent._points import Layout, Point
from solvent.exceptions import ObjectiveError
from solvent.manifolds.base import Manifold
from solvent.optim.beta import estimate_beta
from solvent.optim.cdf import DissolvedFunction, check_beta, riemannian_grad_norm, scalar_value
from solvent.optim.methods import Method, method_spec
from solvent.optim.native import NATIVE_SOLVERS
from solvent.optim.objective import Clock, Diverged, Evaluation, Objective
from solvent.optim.result import History, Iterate, OptimizeResult
from solvent.optim.start import start_point
from solvent.plugins.manager import manifold as _manifold

__all__ = ["DEFAULT_GTOL", "minimize"]

# gtol when none is given: what the working precision can reach on unit-scale problems.
DEFAULT_GTOL = {torch.float64: 1e-6, torch.float32: 1e-3}


def minimize(
    f: Callable[[Point], Tensor],
    x0: Point | None = None,
    manifold: str | Manifold = "stiefel",
    *,
    method: str = "L-BFGS",
    beta: float | str = "auto",
    gtol: float | None = None,
    maxiter: int = 1000,
    callback: Callable[[Iterate], bool | None] | None = None,
    shape: int | Sequence | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
    max_violation: float = 1.0,
    max_restarts: int | None = None,
    beta_growth: float = 10.0,
    options: dict | None = None,
) -> OptimizeResult:
    """Minimise f over a manifold with a solver on the constraint dissolving function.

    Args:
        f: a real scalar function of a point (a tensor; a tuple for a product manifold).
        x0: the start (projected onto the manifold); None draws a random point of ``shape``.
        manifold: a registered name or a Manifold instance.
        method: torch-native ``L-BFGS``, ``trust-region`` or ``Newton-CG`` (on the point's
            device), or SciPy's ``L-BFGS-B``, ``BFGS``, ``CG``, ``trust-ncg``,
            ``trust-krylov`` (float64 on the host). Second-order methods use exact
            Hessian-vector products.
        beta: the penalty weight, or "auto" (Note [beta estimate], with restarts).
        gtol: success needs the Riemannian gradient norm at the returned point <= gtol
            (default 1e-6 in float64, 1e-3 in float32); see Note [stopping test].
        maxiter: iterations per solve.
        callback: called with an :class:`Iterate` after every iteration; return True to stop.
        shape: the point shape when x0 is None.
        dtype: the working real dtype (default: x0's, else float64; complex points use the
            matching complex dtype).
        device: where tensors live (default: x0's device, else the CPU). The torch-native
            methods keep every vector there; SciPy's work on a host copy.
        seed: seeds the random start and the beta estimate.
        max_violation: ||C(X)|| above which a solve counts as diverged (Note [divergence guard]).
        max_restarts: restarts allowed after a divergence (default 3 with "auto", else 0).
        beta_growth: the factor beta grows by on a restart.
        options: extra SciPy options, on top of ours (SciPy methods only).

    Returns:
        An :class:`OptimizeResult` with the feasible point ``x``.

    Example:
        >>> import torch, solvent.optim
        >>> H = torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))
        >>> res = solvent.optim.minimize(lambda X: -torch.trace(X.mT @ H @ X), shape=(6, 2), seed=0)
        >>> res.success, round(res.fun, 8)
        (True, -11.0)
    """
    if not callable(f):
        raise ObjectiveError(f"the objective must be callable, got {type(f).__name__}")
    M = _manifold(manifold)
    dtype = _working_dtype(x0, dtype)
    gtol = DEFAULT_GTOL.get(dtype, 1e-6) if gtol is None else float(gtol)
    gen = torch.Generator(device=device or "cpu").manual_seed(seed) if seed is not None else None
    X = start_point(M, x0, shape, dtype, device, gen)  # validated once, here
    layout = Layout(X)
    spec = method_spec(method, layout.size)
    auto = isinstance(beta, str)
    if auto and beta != "auto":
        raise ValueError(f"beta must be a positive number or 'auto', got {beta!r}")
    beta_value = estimate_beta(f, X, M, generator=gen) if auto else check_beta(beta)
    restarts = (3 if auto else 0) if max_restarts is None else int(max_restarts)
    run = _Run(f, M, layout, spec, max_violation, callback, gtol, maxiter, options)
    x = layout.flatten(X).detach().clone()
    for attempt in range(restarts + 1):
        outcome = run.solve(x, beta_value)
        if not outcome.diverged or attempt == restarts:
            break
        x = layout.flatten(M.project(layout.unflatten(outcome.x))).detach().clone()
        beta_value *= beta_growth
    return run.result(outcome, beta_value, attempt, auto)


def _working_dtype(x0: object, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    first = x0[0] if isinstance(x0, (tuple, list)) and x0 else x0
    if isinstance(first, Tensor) and first.is_floating_point():
        return first.dtype
    if isinstance(first, Tensor) and first.is_complex():
        return first.real.dtype
    return torch.float64


@dataclasses.dataclass
class _Outcome:
    x: Tensor  # the flat iterate the solve ended on
    violation: float
    message: str
    diverged: bool = False
    stopped: bool = False
    point: Point | None = None  # its projection and Riemannian gradient norm, when computed
    grad_norm: float = math.nan


class _Stop(Exception):
    """The user's callback asked to stop."""


class _Converged(Exception):
    """The test of Note [stopping test] is met at ``point``."""

    def __init__(self, point: Point, grad_norm: float) -> None:
        super().__init__()
        self.point, self.grad_norm = point, grad_norm


class _Run:
    """The state shared by the solves of one minimize() call: counts, history, clock."""

    def __init__(self, f, M: Manifold, layout: Layout, spec: Method, max_violation: float,
                 callback, gtol: float, maxiter: int, options: dict | None) -> None:
        self.f, self.M, self.layout, self.spec, self.gtol = f, M, layout, spec, gtol
        self.max_violation, self.user_callback = max_violation, callback
        self.maxiter, self.options = maxiter, options
        self.history, self.clock = History(), Clock()
        self.nit = self.nfev = self.njev = self.nhev = 0
        self.obj: Objective | None = None
        self.last_good: Evaluation | None = None
        self.note = ""  # how the solve got there, when SciPy's stop needed the fallback

    def solve(self, x0: Tensor, beta: float) -> _Outcome:
        """One solve of h with this beta, aborted on divergence."""
        native = self.spec.engine == "torch"
        self.obj = Objective(DissolvedFunction(self.f, self.M, beta), self.layout,
                             max_violation=self.max_violation, reject_outside=native)
        ev = self.obj.evaluate(x0, graph=self.spec.second_order)
        self.last_good = ev
        self._record(ev)
        try:
            if not native:
                ev, message = self._scipy(x0)
            else:
                ev, message = NATIVE_SOLVERS[self.spec.name](self.obj, ev, self.maxiter,
                                                              self.accept)
                if ev.violation > 0.5 * self.max_violation:  # Note [divergence guard]
                    raise Diverged(f"the solve stalled at violation ||C(X)|| = "
                                   f"{ev.violation:.3g}, near max_violation "
                                   f"{self.max_violation:.3g} ({message}): beta = "
                                   f"{self.obj.h.beta:.3g} is too small")
        except Diverged as err:
            return self._outcome(f"diverged: {err}", diverged=True)
        except _Stop:
            return self._outcome("stopped by the callback", stopped=True)
        except _Converged as done:
            out = self._outcome(f"{self.note}Riemannian gradient norm <= gtol = {self.gtol:.3g}")
            out.point, out.grad_norm = done.point, done.grad_norm
            return out
        return _Outcome(ev.x.detach(), ev.violation, message)

    def _scipy(self, x0: Tensor) -> tuple[Evaluation, str]:
        """SciPy's solve, then the torch-native fallback of Note [stopping test]."""
        from solvent.optim.scipy_solve import solve_scipy  # SciPy loads only when used

        opts = self.spec.options(self.gtol, self.maxiter, self.layout.size, self.options)
        _, ev, message = solve_scipy(self.obj, x0, self.spec.name, self.spec.second_order,
                                     opts, self.accept)
        self.obj.guard(ev)
        if self.nit >= self.maxiter:
            return ev, message
        fallback = "trust-region" if self.spec.second_order else "L-BFGS"
        self.note = f"{self.spec.name} stopped ({message}); solvent's {fallback} went on: "
        self.obj.reject_outside = True
        ev = self.obj.evaluate(ev.x.detach(), graph=self.spec.second_order)
        self.accept(ev, count=False)  # it may already meet the test
        ev, more = NATIVE_SOLVERS[fallback](self.obj, ev, self.maxiter - self.nit, self.accept)
        return ev, f"{self.note}{more}"

    def accept(self, ev: Evaluation, count: bool = True) -> None:
        """Every accepted iterate: the guard, the history, the callback, the stopping test."""
        self.obj.guard(ev)
        self.last_good = ev
        if count:
            self.nit += 1
            self._record(ev)
            if self.user_callback is not None:
                x = self.layout.unflatten(ev.x.detach())
                info = Iterate(self.nit, x, ev.objective, ev.violation, ev.grad_norm,
                               self.history.time[-1], self.obj.h.beta)
                if self.user_callback(info):
                    raise _Stop
        if ev.grad_norm <= self.gtol:
            X = self.M.project(self.layout.unflatten(ev.x.detach()))
            grad_norm = riemannian_grad_norm(self.f, self.M, X)
            if grad_norm <= self.gtol:
                raise _Converged(X, grad_norm)

    def _outcome(self, message: str, **kw) -> _Outcome:
        ev = self.last_good
        return _Outcome(ev.x.detach(), ev.violation, message, **kw)

    def _record(self, ev: Evaluation) -> None:
        self.history.append(ev.objective, ev.violation, ev.grad_norm, self.clock(),
                            self.obj.h.beta)

    def _count(self) -> None:
        """Fold the finished solve's evaluation counts into the totals."""
        if self.obj is not None:
            self.nfev, self.njev = self.nfev + self.obj.nfev, self.njev + self.obj.njev
            self.nhev += self.obj.nhev
            self.obj.nfev = self.obj.njev = self.obj.nhev = 0

    def result(self, out: _Outcome, beta: float, restarts: int, auto: bool) -> OptimizeResult:
        """The feasible point, its objective and Riemannian gradient norm, and the verdict."""
        self._count()
        X = out.point
        if X is None:
            X = self.M.project(self.layout.unflatten(out.x))
            out.grad_norm = riemannian_grad_norm(self.f, self.M, X)
        with torch.no_grad():
            fun = float(scalar_value(self.f(X)))
        success = not (out.diverged or out.stopped) and math.isfinite(fun)
        success = success and out.grad_norm <= self.gtol
        message = _message(out, success, beta, restarts, auto, self.gtol)
        return OptimizeResult(X, fun, out.grad_norm, out.violation, bool(success), message,
                              self.nit, self.nfev, self.njev, self.nhev, beta, restarts,
                              self.spec.name, self.history)


def _message(out: _Outcome, success: bool, beta: float, restarts: int, auto: bool,
             gtol: float) -> str:
    msg = out.message
    if out.diverged:
        fix = "" if auto else "; pass beta='auto', a larger beta, or max_restarts=k to raise it"
        return f"{msg} (beta = {beta:.3g}, after {restarts} restart(s)){fix}"
    if restarts:
        msg += f" (after {restarts} restart(s) raising beta to {beta:.3g})"
    if not success and not out.stopped:
        msg += f"; not converged: Riemannian gradient norm {out.grad_norm:.3g} > gtol {gtol:.3g}"
    return msg


