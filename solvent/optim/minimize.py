"""minimize(): SciPy's solvers on the constraint dissolving function, guarded against divergence.

# Note [divergence guard]
# ~~~~~~~~~~~~~~~~~~~~~~~
# h(X) = f(A(X)) + beta/2 ||C(X)||^2 matches the constrained problem only in a
# neighbourhood of M, and for too small a beta it is unbounded below away from
# M (Note [beta estimate] in solvent.optim.beta). A solver then runs away with
# h -> -inf while its own tests may still report success. So every accepted
# iterate's violation ||C(X_k)|| is read (free: the evaluation computed the
# penalty) and, past ``max_violation`` (default 1: the scale where A stops being
# a projection-like map, e.g. Stiefel's A(X) loses rank at X^T X = 3 I), the
# solve is aborted by an exception thrown through SciPy. (A trial point out
# there where h overflows is only reported as h = +inf, which line searches and
# trust regions reject: an overlong trial step is no divergence.) With
# beta="auto" minimize restarts from the projection of the last good
# iterate with beta * beta_growth, at most ``max_restarts`` times (default 3);
# with an explicit beta the default is no restart. A final iterate off the
# neighbourhood counts as a divergence too. Whatever the restarts, a run whose
# last solve diverged returns success=False with a message saying so.

# Note [stopping test]
# ~~~~~~~~~~~~~~~~~~~~
# SciPy's methods test different things: L-BFGS-B, BFGS and CG max |g_i|, the
# trust-region methods ||g||_2, Newton-CG only the size of its step (which
# stops it early, and "successfully", when the line search makes slow
# progress). So every method gets one test, applied in the callback at each
# accepted iterate: ||grad h(X_k)||_2 <= gtol. SciPy's own tests are set no
# looser (methods.py: Newton-CG's step test and L-BFGS-B's relative decrease
# test at rounding level), so when one fires first the solve has stalled at
# the precision f's values allow (||g|| ~ sqrt(L eps |f|)), and SciPy's verdict
# stands. Any other stop (maxiter, a failed line search) counts as success only
# if the Riemannian gradient norm at the projected point meets gtol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from solvent.exceptions import ObjectiveError
from solvent.manifolds.base import Manifold
from solvent.optim.beta import estimate_beta
from solvent.optim.cdf import DissolvedFunction, check_beta, riemannian_grad_norm, scalar_value
from solvent.optim.methods import Method, method_spec
from solvent.optim.objective import Clock, Diverged, Objective
from solvent.optim.points import Packer, Point
from solvent.optim.result import History, Iterate, OptimizeResult
from solvent.optim.start import start_point
from solvent.optim.threads import scipy_blas_single_threaded
from solvent.plugins.manager import manifold as _manifold

__all__ = ["minimize"]


def minimize(
    f: Callable[[Point], Tensor],
    x0: Point | None = None,
    manifold: str | Manifold = "stiefel",
    *,
    method: str = "L-BFGS-B",
    beta: float | str = "auto",
    gtol: float = 1e-6,
    maxiter: int = 1000,
    callback: Callable[[Iterate], bool | None] | None = None,
    shape: int | Sequence | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int | None = None,
    max_violation: float = 1.0,
    max_restarts: int | None = None,
    beta_growth: float = 10.0,
    options: dict | None = None,
) -> OptimizeResult:
    """Minimise f over a manifold with a SciPy solver on the constraint dissolving function.

    Args:
        f: a real scalar function of a point (a tensor; a tuple for a product manifold).
        x0: the start (projected onto the manifold); None draws a random point of ``shape``.
        manifold: a registered name or a Manifold instance.
        method: L-BFGS-B, BFGS, CG, Newton-CG, trust-ncg or trust-krylov (exact
            Hessian-vector products for the last three).
        beta: the penalty weight, or "auto" (Note [beta estimate], with restarts).
        gtol: the gradient tolerance handed to SciPy (Newton-CG: its xtol).
        maxiter: iterations per solve.
        callback: called with an :class:`Iterate` after every iteration; return True to stop.
        shape: the point shape when x0 is None.
        dtype: the working dtype (float64 by default; complex points use the matching complex).
        device: where tensors live (SciPy's vectors are always on the CPU).
        seed: seeds the random start and the beta estimate.
        max_violation: ||C(X)|| above which a solve counts as diverged (Note [divergence guard]).
        max_restarts: restarts allowed after a divergence (default 3 with "auto", else 0).
        beta_growth: the factor beta grows by on a restart.
        options: extra SciPy options, on top of ours.

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
    gen = torch.Generator(device=device or "cpu").manual_seed(seed) if seed is not None else None
    X = start_point(M, x0, shape, dtype, device, gen)
    packer = Packer(X)
    spec = method_spec(method, packer.size)
    auto = isinstance(beta, str)
    if auto and beta != "auto":
        raise ValueError(f"beta must be a positive number or 'auto', got {beta!r}")
    beta_value = estimate_beta(f, X, generator=gen) if auto else check_beta(beta)
    restarts = (3 if auto else 0) if max_restarts is None else int(max_restarts)
    run = _Run(f, M, packer, spec, max_violation, callback, gtol)
    opts = spec.options(gtol, maxiter, packer.size, options)
    x = packer.to_numpy(packer.flatten(X)).copy()
    for attempt in range(restarts + 1):
        outcome = run.solve(x, beta_value, opts)
        if not outcome.diverged or attempt == restarts:
            break
        x = packer.to_numpy(packer.flatten(M.project(run.point(outcome.x)))).copy()
        beta_value *= beta_growth
    return run.result(outcome, beta_value, attempt, gtol, auto)


@dataclasses.dataclass
class _Outcome:
    x: np.ndarray
    converged: bool  # our gradient test or SciPy's own (Note [stopping test])
    message: str
    diverged: bool = False
    stopped: bool = False


class _Stop(Exception):
    """The user's callback asked to stop."""


class _Converged(Exception):
    """The gradient test of Note [stopping test] is met."""


class _Run:
    """The state shared by the solves of one minimize() call: counts, history, clock."""

    def __init__(self, f, M: Manifold, packer: Packer, spec: Method, max_violation: float,
                 callback, gtol: float) -> None:
        self.f, self.M, self.packer, self.spec, self.gtol = f, M, packer, spec, gtol
        self.max_violation, self.user_callback = max_violation, callback
        self.history, self.clock = History(), Clock()
        self.nit = self.nfev = self.njev = self.nhev = 0
        self.obj: Objective | None = None
        self.last_good: np.ndarray | None = None
        self.dtype, self.device = packer.real_dtype, packer.device

    def point(self, x: np.ndarray) -> Point:
        return self.packer.unflatten(self.packer.from_numpy(x, self.dtype, self.device))

    def solve(self, x0: np.ndarray, beta: float, opts: dict) -> _Outcome:
        """One SciPy solve of h with this beta, aborted on divergence."""
        self._count()
        h = DissolvedFunction(self.f, self.M, beta)
        self.obj = Objective(h, self.packer, self.dtype, self.device,
                             max_violation=self.max_violation, second_order=self.spec.second_order)
        self.last_good = x0
        self._record(self.obj.evaluate(x0), beta)
        hessp = self.obj.hessp if self.spec.second_order else None
        try:
            with scipy_blas_single_threaded():  # Note [threads] in optim/threads.py
                res = scipy.optimize.minimize(self.obj.fun, x0, jac=True, hessp=hessp,
                                              method=self.spec.name, callback=self._step,
                                              options=opts)
            final = self.obj.evaluate(res.x)
            self.obj.guard(final)
        except Diverged as err:
            return _Outcome(self.last_good, False, f"diverged: {err}", diverged=True)
        except _Stop:
            return _Outcome(self.last_good, False, "stopped by the callback", stopped=True)
        except _Converged:
            return _Outcome(self.last_good, True, f"||grad h||_2 <= gtol = {self.gtol:.3g}")
        converged = bool(res.success) or final.grad_norm <= self.gtol
        return _Outcome(np.array(res.x), converged, str(res.message))

    def _step(self, xk: np.ndarray) -> None:
        ev = self.obj.evaluate(xk)
        self.obj.guard(ev)
        self.nit += 1
        self.last_good = np.array(xk)
        self._record(ev, self.obj.h.beta)
        if self.user_callback is not None:
            info = Iterate(self.nit, self.point(xk), ev.objective, ev.violation, ev.grad_norm,
                           self.history.time[-1], self.obj.h.beta)
            if self.user_callback(info):
                raise _Stop
        if ev.grad_norm <= self.gtol:
            raise _Converged

    def _record(self, ev, beta: float) -> None:
        self.history.append(ev.objective, ev.violation, ev.grad_norm, self.clock(), beta)

    def _count(self) -> None:
        """Fold the finished solve's evaluation counts into the totals."""
        if self.obj is not None:
            self.nfev, self.njev = self.nfev + self.obj.nfev, self.njev + self.obj.njev
            self.nhev += self.obj.nhev
            self.obj.nfev = self.obj.njev = self.obj.nhev = 0

    def result(self, out: _Outcome, beta: float, restarts: int, gtol: float,
               auto: bool) -> OptimizeResult:
        """The feasible point, its objective and Riemannian gradient norm, and the verdict."""
        violation = self.obj.evaluate(out.x).violation
        self._count()
        X = self.M.project(self.point(out.x))
        with torch.no_grad():
            fun = float(scalar_value(self.f(X)))
        grad_norm = riemannian_grad_norm(self.f, self.M, X)
        success = not (out.diverged or out.stopped) and np.isfinite(fun)
        success = success and (out.converged or grad_norm <= gtol)
        message = _message(out, success, beta, restarts, auto, grad_norm, gtol)
        return OptimizeResult(X, fun, grad_norm, violation, bool(success), message, self.nit,
                              self.nfev, self.njev, self.nhev, beta, restarts, self.spec.name,
                              self.history)


def _message(out: _Outcome, success: bool, beta: float, restarts: int, auto: bool,
             grad_norm: float, gtol: float) -> str:
    msg = out.message
    if out.diverged:
        fix = "" if auto else "; pass beta='auto', a larger beta, or max_restarts=k to raise it"
        return f"{msg} (beta = {beta:.3g}, after {restarts} restart(s)){fix}"
    if restarts:
        msg += f" (after {restarts} restart(s) raising beta to {beta:.3g})"
    if success and not out.converged:
        msg += "; the Riemannian gradient norm meets gtol"
    elif not success:
        msg += f"; not converged: Riemannian gradient norm {grad_norm:.3g} > gtol {gtol:.3g}"
    return msg
