"""Torch-native solvers on h: every vector stays a tensor on the point's device (CUDA included).

Three methods, one protocol: ``solver(obj, ev, maxiter, on_iterate)`` starts
from the evaluation ``ev`` of the start, calls ``on_iterate(ev)`` with each
accepted iterate (which raises to stop: convergence, divergence, the user's
callback) and returns the last accepted evaluation and a message when it
stops on its own.

- ``L-BFGS``: limited-memory BFGS (two-loop recursion, memory 10) with a
  backtracking line search that accepts the first step of sufficient decrease
  (Armijo): one evaluation per iteration when the unit step is good, which it
  is almost always once the memory holds curvature pairs.
- ``trust-region``: Steihaug-Toint truncated CG on exact Hessian-vector
  products (double backward), the classical radius update, and pymanopt's
  regularised ratio (below).
- ``Newton-CG``: the same truncated CG as a line-search direction, its length
  bounded by a radius that grows after full steps and shrinks to the step
  taken otherwise (Note [bounded Newton step]).

# Note [bounded Newton step]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# SciPy's Newton-CG runs CG on Hess h p = -grad h and stops it on curvature
# d^T H d <= 3 eps; a first direction of tiny *positive* curvature (a start
# near a saddle of f on M) gives a step alpha = r^T r / d^T H d of any length,
# and since h is unbounded below far from M (Note [beta estimate]) its Wolfe
# line search accepts it: measured on the Rayleigh quotient St(5, 2), seed
# 651, the first step went from a feasible point to ||C(X)|| = 2.6e12, for
# every beta the guard tried. SciPy has no option bounding that step, so
# solvent's Newton-CG is its own: CG stops at a radius (negative curvature
# goes to the radius along its direction, steepest descent on the first CG
# step), and a line search backtracks from there. Every trial point also
# stays inside the region where h is trusted: an evaluation with ||C|| above
# max_violation is +inf (Objective(reject_outside=True)), so no torch-native
# method can step out of it.
#
# Note [dissolved steps]
# ~~~~~~~~~~~~~~~~~~~~~~
# A step x + p along the tangent space leaves M at second order (||C|| ~
# ||p||^2), and on h that costs: the next iterates spend their steps pulling
# the normal part back (the gradient of h is then dominated by beta J^T C), and
# L-BFGS's line search, measured on ten 3 x 3 rotations, took 185 iterations to
# pymanopt's 53 with steepest descent, zig-zagging across M. So the trial
# point of every torch-native method (line search and trust region) on an
# equality-kind manifold is A(x + p) rather than x + p: the dissolving map
# itself, which is the identity on M, whose derivative there projects onto
# T_X M, and which squares the violation (||C(A(Y))|| = O(||C(Y)||^2)), i.e. a
# retraction in all but name, and costs the manifold's map, never f. At a
# feasible x the slope of t -> h(A(x + t d)) at 0 is g.d (DA(x) projects onto
# T_X M and grad h(x) = DA(x)^T grad f lies in its range), so the sufficient
# decrease and trust-region ratio tests keep their meaning; iterates stay within
# rounding of M and beta only has to make h convex across M there. L-BFGS's
# secant pair takes the step actually made, A(x + t d) - x, unless A folded a
# trial far off M back (the sphere map sends y and y / ||y||^2 to one point):
# then t d (measured: the dictionary example, seed 1, ran to maxiter with the
# folded steps in its memory). Measured (L-BFGS
# iterations, x + p -> A(x + p), same start, problems of
# benchmarks/bench_pymanopt_examples.py and bench_solver.py): rotations 185 ->
# 75, complex circle (50) 192 -> 67, rank-3 correlation (10 x 3) 64 -> 26, low
# rank (5 x 4) 79 -> 48, Brockett St(50, 5) 336 -> 241, PCA St(200, 5) 38 -> 25,
# PCA St(1000, 10) 45 -> 29; packing 24 points on the sphere went the other
# way, 132 -> 147. A chart manifold's A maps
# coordinates to points and is no retraction: its trial points are x + p.
#
# Ratio and decrease tests are regularised by 1e3 eps max(1, |h|) (pymanopt's
# rho_regularization): near a minimiser the decrease of h falls below the
# rounding of its value (||g||^2 / L < eps |h|), where an unregularised test
# rejects good steps and stalls the solve above gtol ("precision loss"); with
# it, gradients keep driving the last iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from solvent.optim.objective import Evaluation, Objective

__all__ = ["NATIVE_SOLVERS", "first_radius", "lbfgs", "newton_cg", "trust_region"]

OnIterate = Callable[[Evaluation], None]


def _slack(ev: Evaluation) -> float:
    """The rounding allowance of Note [bounded Newton step]."""
    return 1e3 * torch.finfo(ev.x.dtype).eps * max(1.0, abs(ev.value))


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return torch.dot(a, b)


def first_radius(ev: Evaluation) -> float:
    """An initial step length on the scale of the point (pymanopt's sqrt(dim) / 8 in kind)."""
    return max(1.0, float(torch.linalg.vector_norm(ev.x.detach()))) / 8


# ---------------------------------------------------------------- line search
def _backtrack(obj: Objective, ev: Evaluation, d: Tensor, gd: float, t: float, graph: bool,
               c1: float = 1e-4, tries: int = 40) -> tuple[Evaluation | None, float]:
    """The first t (from t down) with h(x + t d) <= h(x) + c1 t g.d (+ rounding slack)."""
    x, slack = ev.x.detach(), _slack(ev)
    for _ in range(tries):
        trial = obj.evaluate(obj.retract(x + t * d), graph=graph)
        if trial.value <= ev.value + c1 * t * gd + slack:
            return trial, t
        curv = trial.value - ev.value - gd * t  # a t^2 of the quadratic through h(0), h'(0), h(t)
        t_quad = -gd * t * t / (2 * curv) if math.isfinite(curv) and curv > 0 else 0.1 * t
        t = min(max(t_quad, 0.1 * t), 0.5 * t)
    return None, t


# ---------------------------------------------------------------- L-BFGS
def lbfgs(obj: Objective, ev: Evaluation, maxiter: int, on_iterate: OnIterate,
          memory: int = 10) -> tuple[Evaluation, str]:
    """Limited-memory BFGS with a first-sufficient-decrease line search (``method="L-BFGS"``).

    Example:
        >>> import torch, solvent.optim
        >>> H = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
        >>> res = solvent.optim.minimize(lambda X: -(X * (H @ X)).sum(), shape=(5, 2), seed=0,
        ...                              method="L-BFGS")
        >>> res.success, round(res.fun, 8)
        (True, -9.0)
    """
    mem = _Memory(memory)
    t0 = first_radius(ev) / max(ev.grad_norm, 1e-300)
    for _ in range(maxiter):
        g = ev.g.detach()
        d = -mem.apply(g)
        gd = float(_dot(g, d))
        if not gd < 0:  # not a descent direction (rounding): restart from steepest descent
            mem.clear()
            d, gd = -g, -ev.grad_norm**2
        new, t = _backtrack(obj, ev, d, gd, t0 if mem.empty else 1.0, graph=False)
        if new is None:
            if mem.empty:
                return ev, "the line search found no decrease along steepest descent"
            mem.clear()  # a bad quasi-Newton model: forget it and retry
            continue
        mem.add(_secant_step(new.x.detach() - ev.x.detach(), t * d), new.g.detach() - g)
        t0 = t
        ev = new
        on_iterate(ev)
    return ev, f"maxiter = {maxiter} reached"


def _secant_step(taken: Tensor, planned: Tensor) -> Tensor:
    """The step of the secant pair: the one taken, A(x + t d) - x, unless A folded it (a
    trial far off M that A maps back, changing the step by more than half), then t d."""
    diff, size = torch.stack([torch.linalg.vector_norm(taken - planned),
                              torch.linalg.vector_norm(planned)]).tolist()
    return taken if diff <= 0.5 * size else planned


class _Memory:
    """The L-BFGS inverse Hessian in compact form (Byrd, Nocedal, Schnabel 1994).

    H = gamma I + [S  gamma Y] W [S  gamma Y]^T with W built from R = triu(S^T Y),
    D = diag(S^T Y) and Y^T Y (Nocedal & Wright eq. 7.24): a product H g is two
    matrix-vector products with the stacked pairs and two small triangular
    solves, a dozen tensor operations whatever the memory, with no host sync
    (the two-loop recursion needs ~6 per stored pair, which dominates small problems).
    """

    def __init__(self, size: int) -> None:
        self.size, self.S, self.Y = size, [], []
        self.Z = self.R = self.D_gYY = self.gamma = None

    @property
    def empty(self) -> bool:
        return not self.S

    def clear(self) -> None:
        self.S.clear(), self.Y.clear()

    def add(self, s: Tensor, y: Tensor) -> None:
        """Store a pair if its curvature s.y is positive (else the model loses definiteness)."""
        sy, ss, yy = torch.stack([_dot(s, y), _dot(s, s), _dot(y, y)]).tolist()
        if not sy > 1e-10 * math.sqrt(ss * yy):
            return
        self.S.append(s), self.Y.append(y)
        del self.S[:-self.size], self.Y[:-self.size]
        k = len(self.S)
        self.Z = torch.stack(self.S + self.Y)  # (2k, N)
        G = self.Z @ self.Z.mT
        SY, YY = G[:k, k:], G[k:, k:]
        self.gamma = SY[-1, -1] / YY[-1, -1]
        self.R = torch.triu(SY)
        self.D_gYY = torch.diag(torch.diagonal(SY)) + self.gamma * YY

    def apply(self, g: Tensor) -> Tensor:
        """H g."""
        if not self.S:
            return g
        k = len(self.S)
        ab = self.Z @ g
        a, b = ab[:k, None], ab[k:, None]
        p = torch.linalg.solve_triangular(self.R, a, upper=True)
        u = torch.linalg.solve_triangular(self.R.mT, self.D_gYY @ p - self.gamma * b,
                                          upper=False)
        return self.gamma * g + self.Z.mT @ torch.cat([u, -self.gamma * p]).squeeze(-1)


# ---------------------------------------------------------------- truncated CG
def _steihaug(obj: Objective, ev: Evaluation, radius: float) -> tuple[Tensor, float, bool]:
    """Steihaug-Toint CG on Hess h p = -g within ||p|| <= radius.

    Returns ``(p, model decrease g.p + p.Hp / 2, whether p reached the radius)``.
    Stops at the forcing tolerance ||r|| <= ||g|| min(1/2, sqrt(||g||)) (superlinear).
    """
    g = ev.g.detach()
    if not ev.grad_norm > 0:  # a stationary point: no step
        return torch.zeros_like(g), 0.0, False
    z, Hz, r = torch.zeros_like(g), torch.zeros_like(g), g.clone()
    d, rr = -g, ev.grad_norm**2
    tol = ev.grad_norm * min(0.1, ev.grad_norm)
    for _ in range(g.numel() + 1):
        Hd = obj.hvp(ev, d)
        dHd, zd, dd = torch.stack([_dot(d, Hd), _dot(z, d), _dot(d, d)]).tolist()
        alpha = rr / dHd if dHd > 0 else math.inf
        zz = float(_dot(z, z))
        if dHd <= 0 or zz + 2 * alpha * zd + alpha * alpha * dd >= radius * radius:
            tau = _to_boundary(zz, zd, dd, radius)
            z.add_(tau * d), Hz.add_(tau * Hd)
            return z, _model(g, z, Hz), True
        z.add_(alpha * d), Hz.add_(alpha * Hd), r.add_(alpha * Hd)
        rr_new = float(_dot(r, r))
        if math.sqrt(rr_new) <= tol:
            break
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, _model(g, z, Hz), False


def _to_boundary(zz: float, zd: float, dd: float, radius: float) -> float:
    """tau >= 0 with ||z + tau d|| = radius."""
    disc = max(zd * zd - dd * (zz - radius * radius), 0.0)
    return (-zd + math.sqrt(disc)) / dd


def _model(g: Tensor, z: Tensor, Hz: Tensor) -> float:
    return float(_dot(g, z) + 0.5 * _dot(z, Hz))


# ---------------------------------------------------------------- trust region
def trust_region(obj: Objective, ev: Evaluation, maxiter: int,
                 on_iterate: OnIterate) -> tuple[Evaluation, str]:
    """Steihaug-CG trust region with exact Hessian-vector products (``method="trust-region"``).

    Example:
        >>> import torch, solvent.optim
        >>> H = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
        >>> res = solvent.optim.minimize(lambda X: -(X * (H @ X)).sum(), shape=(5, 2), seed=0,
        ...                              method="trust-region")
        >>> res.success, round(res.fun, 8)
        (True, -9.0)
    """
    radius = first_radius(ev)
    max_radius = 1e3 * radius
    for _ in range(maxiter):
        p, model, boundary = _steihaug(obj, ev, radius)
        trial = obj.evaluate(obj.retract(ev.x.detach() + p), graph=True)
        slack = _slack(ev)
        rho = (ev.value - trial.value + slack) / (-model + slack)
        step = float(torch.linalg.vector_norm(p))
        if not rho >= 0.25:  # also a rejected (infinite) trial: rho = -inf
            radius = 0.25 * step
        elif rho > 0.75 and boundary:
            radius = min(2 * radius, max_radius)
        if rho > 0.1:
            ev = trial
            on_iterate(ev)
        elif radius <= 1e-12 * max(1.0, float(torch.linalg.vector_norm(ev.x.detach()))):
            return ev, "the trust radius collapsed (no model decrease is realised)"
    return ev, f"maxiter = {maxiter} reached"


# ---------------------------------------------------------------- Newton-CG
def newton_cg(obj: Objective, ev: Evaluation, maxiter: int,
              on_iterate: OnIterate) -> tuple[Evaluation, str]:
    """Truncated Newton, bounded step, backtracking line search (``method="Newton-CG"``).

    Example:
        >>> import torch, solvent.optim
        >>> H = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
        >>> res = solvent.optim.minimize(lambda X: -(X * (H @ X)).sum(), shape=(5, 2), seed=0,
        ...                              method="Newton-CG")
        >>> res.success, round(res.fun, 8)
        (True, -9.0)
    """
    radius = first_radius(ev)
    max_radius = 1e3 * radius
    for _ in range(maxiter):
        p, _, boundary = _steihaug(obj, ev, radius)
        gp = float(_dot(ev.g.detach(), p))
        new, t = _backtrack(obj, ev, p, gp, 1.0, graph=True)
        if new is None:
            return ev, "the line search found no decrease along the Newton direction"
        step = t * float(torch.linalg.vector_norm(p))
        if t < 1.0:
            radius = step  # the line search cut the step: bound the next one by it
        elif boundary:
            radius = min(2 * radius, max_radius)
        ev = new
        on_iterate(ev)
    return ev, f"maxiter = {maxiter} reached"


NATIVE_SOLVERS = {"L-BFGS": lbfgs, "trust-region": trust_region, "Newton-CG": newton_cg}
