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
# methods never evaluate f out there: a trial point beyond max_violation counts
# as h = +inf and costs C(X) only (the evaluation reads the penalty before it
# calls f), so their steps are bounded by the region (Note [bounded Newton
# step] in solvent.optim.native). For them a too-small beta shows as iterates
# that pile up at the region's edge; measured on ten 3 x 3 rotations with the
# old sampled beta: violation > 0.5 from iteration 3, then 998 iterations with
# the objective frozen, 19,396 of 20,520 evaluations spent on rejected points.
# So beta is raised *in flight*: once two accepted iterates in a row lie past
# max_violation / 2 with trial points rejected beyond max_violation on their
# way (the iterates press against the region's edge; one long step that
# passes 0.5 and pulls back is no sign), or an iterate passes max_violation
# (SciPy), the solve ends and (with beta="auto", at most ``max_restarts``
# times, default 3) the next one starts from the projection of that iterate,
# beta raised by ``beta_growth`` and at least to the estimate there. Since the
# torch-native methods take dissolved steps (Note [dissolved steps] in
# solvent.optim.native) their iterates stay near M and the raise is rare for
# them; SciPy's methods, whose trial points are x + p, are the ones that run
# off M with a small beta. A solve that stops on its own at a violation above
# max_violation / 2 counts as diverged too. (For SciPy a trial point where h
# overflows is reported as +inf, which its line searches and trust regions
# reject.) With an explicit beta the default is no raise. The result lists
# every beta with the iteration it took effect and why; counts and ``maxiter``
# cover all solves.
# A run whose last solve diverged returns success=False, saying so.

# Note [stopping test]
# ~~~~~~~~~~~~~~~~~~~~
# success means one thing for every method: the Riemannian gradient norm
# reported in the result, ||DA(X)^* grad f(X)|| at the returned feasible point
# X = project(X_k) (Note [riemannian gradient]), is <= gtol; the curvature
# check of Note [saddle check] (solvent.optim.curvature) found no negative
# curvature there (unless ``curvature_check=0``: first order only); and the run
# did not diverge or get stopped. SciPy's own stop alone is never success. Each
# method's iterates are checked in one place (_Run.accept): when ||grad h(X_k)||
# is below the check threshold (gtol at first) the iterate is projected and
# evaluated there (its gradient is the Riemannian gradient: C = 0); the solve
# stops if that meets gtol, and goes on otherwise with the threshold scaled by
# the ratio just seen, so that the check, the one evaluation beyond the
# solver's own, is rarely repeated. For a chart manifold (Note [two kinds of
# manifold]) the point is A(Z) of the free variable Z and the test is
# ||grad_Z f(A(Z))|| <= gtol, read from the solver's own evaluation. SciPy's own tests are
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
from solvent.optim.beta import beta_from_gradient
from solvent.optim.cdf import DissolvedFunction, check_beta
from solvent.optim.curvature import MAX_ESCAPES, curvature_tolerance, lowest_curvature
from solvent.optim.methods import Method, method_spec
from solvent.optim.native import NATIVE_SOLVERS, first_radius
from solvent.optim.objective import Clock, Diverged, Evaluation, Objective
from solvent.optim.result import History, Iterate, OptimizeResult
from solvent.optim.start import start_point
from solvent.plugins.manager import manifold as _manifold

__all__ = ["DEFAULT_GTOL", "minimize"]

# Steps in a row pressed against the region's edge that raise beta (Note [divergence guard]).
PRESSED_STEPS = 2

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
    beta_growth: float = 2.0,
    curvature_check: int = 8,
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
        beta: the penalty weight, or "auto" (Note [beta estimate], raised in flight).
        gtol: success needs the Riemannian gradient norm at the returned point <= gtol
            (default 1e-6 in float64, 1e-3 in float32); see Note [stopping test].
        maxiter: iterations in all, over every solve of this call.
        callback: called with an :class:`Iterate` after every iteration; return True to stop.
        shape: the point shape when x0 is None.
        dtype: the working real dtype (default: x0's, else float64; complex points use the
            matching complex dtype).
        device: where tensors live (default: x0's device, else the CPU). The torch-native
            methods keep every vector there; SciPy's work on a host copy.
        seed: seeds the random start and the curvature check.
        max_violation: ||C(X)|| above which a solve counts as diverged (Note [divergence guard]).
        max_restarts: how many times beta may be raised (default 3 with "auto", else 0).
        beta_growth: beta grows by at least this factor each time it is raised (and to the
            estimate of Note [beta estimate] at the point the solve goes on from).
        curvature_check: Lanczos steps of the saddle check at a first-order point
            (Note [saddle check]); 0 makes success first order only.
        options: extra SciPy options, on top of ours (SciPy methods only).

    Returns:
        An :class:`OptimizeResult` with the feasible point ``x``. ``success`` promises
        the Riemannian gradient norm at ``x`` is <= gtol and, with ``curvature_check``,
        that no negative curvature along the manifold was found there.

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
    _check_one_kind(M)
    dtype = _working_dtype(x0, dtype)
    gtol = DEFAULT_GTOL.get(dtype, 1e-6) if gtol is None else float(gtol)
    gen = torch.Generator(device=device or "cpu").manual_seed(seed) if seed is not None else None
    X = start_point(M, x0, shape, dtype, device, gen)  # validated once, here
    Z = M.lift(X) if M.kind == "chart" else X
    layout = Layout(Z)
    spec = method_spec(method, layout.size)
    auto = isinstance(beta, str)
    if auto and beta != "auto":
        raise ValueError(f"beta must be a positive number or 'auto', got {beta!r}")
    beta_value = None if auto else check_beta(beta)
    restarts = (3 if auto else 0) if max_restarts is None else int(max_restarts)
    run = _Run(f, M, layout, spec, max_violation, callback, gtol, maxiter, options,
               restarts=restarts, beta_growth=beta_growth, curvature_check=curvature_check,
               seed=0 if seed is None else seed, generator=gen)
    return run.minimize(layout.flatten(Z).detach().clone(), beta_value)


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
    ev: Evaluation  # the last good evaluation of the solve
    message: str
    diverged: bool = False
    stopped: bool = False
    check: Evaluation | None = None  # the evaluation at the returned point, when made
    saddle: float | None = None  # negative curvature found there and not left


class _Stop(Exception):
    """The user's callback asked to stop."""


class _Converged(Exception):
    """The test of Note [stopping test] is met by the evaluation ``check``."""

    def __init__(self, check: Evaluation) -> None:
        super().__init__()
        self.check = check


def _check_one_kind(M: Manifold) -> None:
    """Refuse a product that mixes chart and equality factors, at set-up.

    A solve keeps one free variable for the whole point and reads the point
    from it as its kind says (Note [two kinds of manifold]): lift/dissolve for a
    chart, project for an equality; a product mixing both has no single reading.
    """
    factors = getattr(M, "manifolds", None)
    if factors is None:
        return
    kinds = {F.kind for F in factors}
    if len(kinds) > 1:
        charts = ", ".join(F.name for F in factors if F.kind == "chart")
        raise ValueError(
            f"minimize takes a product whose factors are all of one kind; {M!r} mixes chart "
            f"factors ({charts}) with equality ones. Reparametrise so that every factor is "
            "a chart (e.g. `positive` in place of a log-parametrised `euclidean`), or every "
            "factor an equality manifold."
        )


class _Run:
    """One minimize() call: its objective, the solves, counts, betas, history, clock."""

    def __init__(self, f, M: Manifold, layout: Layout, spec: Method, max_violation: float,
                 callback, gtol: float, maxiter: int, options: dict | None, *, restarts: int,
                 beta_growth: float, curvature_check: int, seed: int, generator) -> None:
        self.f, self.M, self.layout, self.spec, self.gtol = f, M, layout, spec, gtol
        self.chart = M.kind == "chart"
        self.user_callback, self.maxiter, self.options = callback, maxiter, options
        self.restarts_allowed, self.beta_growth = restarts, beta_growth
        self.curvature_steps, self.seed, self.generator = curvature_check, seed, generator
        self.history, self.clock = History(), Clock()
        self.native = spec.engine == "torch"
        self.obj = Objective(DissolvedFunction(f, M, 1.0), layout, max_violation=max_violation,
                             reject_outside=self.native)
        self.obj.retract_trials = not self.chart  # Note [dissolved steps] in optim/native.py
        # Note [divergence guard]: beta is raised in flight when an iterate passes this.
        self.raise_at = 0.5 * max_violation if restarts > 0 else math.inf
        self.nit = self.restarts = self.escapes = self.nrej_seen = self.pressed = 0
        self.betas: list[tuple[int, float, str]] = []
        self.last_good: Evaluation | None = None
        self.check_at = gtol
        self.note = ""  # how the solve got there, when SciPy's stop needed the fallback

    # ------------------------------------------------------------ the call
    def minimize(self, x: Tensor, beta: float | None) -> OptimizeResult:
        """Solve, raising beta and leaving saddles as needed, then the result."""
        why = "given" if beta is not None else "estimated at the start (Note [beta estimate])"
        ev = self.obj.evaluate(x, graph=self.spec.second_order,
                               choose_beta=lambda G: self._first_beta(x, G, beta))
        self.betas.append((0, self.obj.h.beta, why))
        while True:
            out = self.solve(ev)
            if out.diverged and self.restarts < self.restarts_allowed and self.left() > 0:
                ev = self._raise_beta(out)
                continue
            if out.check is not None and self.curvature_steps > 0:
                escaped = self._leave_saddle(out)
                if escaped is not None:
                    ev = escaped
                    continue
            return self.result(out)

    def left(self) -> int:
        return self.maxiter - self.nit

    def _first_beta(self, x: Tensor, G: Tensor, beta: float | None) -> float:
        if beta is not None:
            return beta
        if self.chart:
            return 0.0  # no constraint: the penalty is zero (Note [two kinds of manifold])
        return beta_from_gradient(self.f, self.M, self.layout, x, G, generator=self.generator)

    def _raise_beta(self, out: _Outcome) -> Evaluation:
        """The evaluation at the projected iterate, with beta raised by at least beta_growth
        and to the estimate there (Note [divergence guard])."""
        self.restarts += 1
        old = self.obj.h.beta
        x = self._feasible(out.ev.x.detach())

        def raised(G: Tensor) -> float:
            here = beta_from_gradient(self.f, self.M, self.layout, x, G, generator=self.generator)
            return max(old * self.beta_growth, here)

        ev = self.obj.evaluate(x, graph=self.spec.second_order, choose_beta=raised)
        self.betas.append((self.nit, self.obj.h.beta, out.message))
        return ev

    def _feasible(self, x: Tensor) -> Tensor:
        """The projection of a flat iterate (the iterate itself on a chart manifold)."""
        if self.chart:
            return x
        return self.layout.flatten(self.M.project(self.layout.unflatten(x))).detach()

    # ------------------------------------------------------------ one solve
    def solve(self, ev: Evaluation) -> _Outcome:
        """One solve of h from the evaluated start, aborted on divergence."""
        self.last_good = ev
        self._record(ev)
        try:
            self.accept(ev, count=False)  # the start may already meet the test
            if not self.native:
                ev, message = self._scipy(ev)
            else:
                ev, message = NATIVE_SOLVERS[self.spec.name](self.obj, ev, self.left(),
                                                              self.accept)
                if not self.chart and ev.violation > 0.5 * self.obj.max_violation:
                    raise Diverged(f"the solve stopped at violation ||C(X)|| = "
                                   f"{ev.violation:.3g}, near max_violation "
                                   f"{self.obj.max_violation:.3g} ({message}): beta = "
                                   f"{self.obj.h.beta:.3g} is too small")
        except Diverged as err:
            return _Outcome(self.last_good, f"diverged: {err}", diverged=True)
        except _Stop:
            return _Outcome(self.last_good, "stopped by the callback", stopped=True)
        except _Converged as done:
            message = f"{self.note}Riemannian gradient norm <= gtol = {self.gtol:.3g}"
            return _Outcome(self.last_good, message, check=done.check)
        return _Outcome(ev, message)

    def _scipy(self, ev: Evaluation) -> tuple[Evaluation, str]:
        """SciPy's solve, then the torch-native fallback of Note [stopping test]."""
        from solvent.optim.scipy_solve import solve_scipy  # SciPy loads only when used

        opts = self.spec.options(self.gtol, self.left(), self.layout.size, self.options)
        self.obj.reject_outside = False  # SciPy sees h everywhere (Note [divergence guard])
        _, ev, message = solve_scipy(self.obj, ev, self.spec.name, self.spec.second_order,
                                     opts, self.accept)
        self.obj.guard(ev)
        if self.left() <= 0:
            return ev, message
        fallback = "trust-region" if self.spec.second_order else "L-BFGS"
        self.note = f"{self.spec.name} stopped ({message}); solvent's {fallback} went on: "
        self.obj.reject_outside = True
        ev = self.obj.evaluate(ev.x.detach(), graph=self.spec.second_order)
        self.accept(ev, count=False)  # it may already meet the test
        ev, more = NATIVE_SOLVERS[fallback](self.obj, ev, self.left(), self.accept)
        return ev, f"{self.note}{more}"

    def accept(self, ev: Evaluation, count: bool = True) -> None:
        """Every accepted iterate: the guard, the history, the callback, the stopping test."""
        self.obj.guard(ev)
        self.last_good = ev
        if count:
            self.nit += 1
            self._record(ev)
            if self.user_callback is not None:
                info = Iterate(self.nit, self._point(ev.x.detach()), ev.objective, ev.violation,
                               ev.grad_norm, self.history.time[-1], self.obj.h.beta)
                if self.user_callback(info):
                    raise _Stop
        rejected, self.nrej_seen = self.obj.nrej - self.nrej_seen, self.obj.nrej
        pressed = ev.violation > self.raise_at and rejected > 0
        self.pressed = self.pressed + 1 if pressed else 0
        if self.pressed >= PRESSED_STEPS:  # Note [divergence guard]: raise beta now
            raise Diverged(f"violation ||C(X)|| = {ev.violation:.3g} above "
                           f"{self.raise_at:.3g} with trial points beyond max_violation "
                           f"rejected, {self.pressed} steps running, at iteration {self.nit}")
        if ev.grad_norm <= self.check_at:
            check = self.check(ev)
            if check.grad_norm <= self.gtol:
                raise _Converged(check)
            self.check_at = min(self.check_at, self.gtol * ev.grad_norm / check.grad_norm)

    def check(self, ev: Evaluation) -> Evaluation:
        """The evaluation at the point minimize() would return for the iterate ev."""
        graph = self.curvature_steps > 0
        if self.chart and (ev.graph or not graph):
            return ev
        return self.obj.evaluate(self._feasible(ev.x.detach()), graph=graph)

    # ------------------------------------------------------------ saddles
    def _leave_saddle(self, out: _Outcome) -> Evaluation | None:
        """Note [saddle check]: None at a point without negative curvature found; else the
        first evaluation past it (the solves go on), or None after marking ``out.saddle``."""
        check = out.check
        low, high, v = lowest_curvature(lambda d: self.obj.hvp(check, d), check.x,
                                        self.curvature_steps, self.seed + self.escapes)
        if not low < -curvature_tolerance(high, check.x.dtype):
            return None
        if self.escapes >= MAX_ESCAPES or self.left() <= 0:
            out.saddle = low
            return None
        self.escapes += 1
        g = check.g.detach()
        if float(torch.dot(g, v)) > 0:
            v = -v
        t = first_radius(check)
        for _ in range(30):
            trial = self.obj.evaluate(self.obj.retract(check.x.detach() + t * v),
                                      graph=self.spec.second_order)
            if trial.value < check.value:
                self.nit += 1
                return trial
            t *= 0.5
        out.saddle = low
        return None

    # ------------------------------------------------------------ the result
    def _point(self, x: Tensor) -> Point:
        Z = self.layout.unflatten(x)
        return self.M.dissolve(Z) if self.chart else Z

    def _record(self, ev: Evaluation) -> None:
        self.history.append(ev.objective, ev.violation, ev.grad_norm, self.clock(),
                            self.obj.h.beta)

    def result(self, out: _Outcome) -> OptimizeResult:
        """The feasible point, its objective and Riemannian gradient norm, and the verdict."""
        check = out.check if out.check is not None else self.check(out.ev)
        X = self._point(check.x.detach())
        fun = check.objective
        success = not (out.diverged or out.stopped or out.saddle is not None)
        success = success and math.isfinite(fun) and check.grad_norm <= self.gtol
        message = self._message(out, success, check.grad_norm)
        obj = self.obj
        return OptimizeResult(X, fun, check.grad_norm, out.ev.violation, bool(success), message,
                              self.nit, obj.nfev, obj.njev, obj.nhev, obj.h.beta, self.restarts,
                              self.spec.name, self.history, list(self.betas), obj.nrej)

    def _message(self, out: _Outcome, success: bool, grad_norm: float) -> str:
        msg, beta = out.message, self.obj.h.beta
        if out.diverged:
            fix = "" if self.restarts_allowed else ("; pass beta='auto', a larger beta, or "
                                                    "max_restarts=k to raise it")
            return f"{msg} (beta = {beta:.3g}, after {self.restarts} restart(s)){fix}"
        if self.restarts:
            msg += f" (beta raised {self.restarts} time(s), to {beta:.3g})"
        if self.escapes:
            msg += f" (left {self.escapes} saddle point(s))"
        if out.saddle is not None:
            msg += (f"; not a minimum: negative curvature {out.saddle:.3g} along the manifold "
                    "(a saddle point the solve could not leave)")
        elif not success and not out.stopped:
            msg += (f"; not converged: Riemannian gradient norm {grad_norm:.3g} > "
                    f"gtol {self.gtol:.3g}")
        return msg
