"""The contenders of the Stiefel eigenvalue benchmark, each solving one ``Problem`` to tolerance.

Every contender gets the same H, the same feasible start X0 and the same
stopping rule: the relative Riemannian gradient norm
``||grad f(P(X_k))|| / ||grad f(X0)||``, with P the polar projection, at most
``TOL``. The rule is checked after every iteration by a callback whose own
time is measured and subtracted (it is the benchmark's instrument, not the
solver's work); pymanopt checks the same quantity itself (its iterates are
feasible), so it gets the absolute threshold ``TOL * ||grad f(X0)||``.
A run returns ``(seconds, relative gradient norm reached, iterations)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from _harness import optional_import

__all__ = ["Problem", "TOL", "contenders"]

TOL = 1e-6
MAXITER = 5000


@dataclass
class Problem:
    """min f(X) = -1/2 tr(X^T H X) over St(n, p), float64."""

    H: torch.Tensor
    X0: torch.Tensor

    def f(self, X: torch.Tensor) -> torch.Tensor:
        return -0.5 * (X * (self.H @ X)).sum()

    def rgrad_norm(self, X: torch.Tensor) -> float:
        """||G - X sym(X^T G)|| at the polar projection of X, G the Euclidean gradient."""
        with torch.no_grad():
            U, _, Vh = torch.linalg.svd(X, full_matrices=False)
            P = U @ Vh
            G = -(self.H @ P)
            S = P.mT @ G
            return float(torch.linalg.norm(G - P @ (0.5 * (S + S.mT))))


class _Monitor:
    """The shared stopping rule, with its own time kept apart."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.g0 = problem.rgrad_norm(problem.X0)
        self.overhead = 0.0
        self.rel = float("inf")
        self.iterations = 0

    def reached(self, X: torch.Tensor) -> bool:
        t0 = time.perf_counter()
        self.iterations += 1
        self.rel = self.problem.rgrad_norm(X) / self.g0
        self.overhead += time.perf_counter() - t0
        return self.rel <= TOL


def _timed(problem: Problem, body: Callable[[_Monitor], object]) -> tuple[float, float, int]:
    mon = _Monitor(problem)
    t0 = time.perf_counter()
    body(mon)
    elapsed = time.perf_counter() - t0 - mon.overhead
    return elapsed, mon.rel, mon.iterations


def solvent_run(problem: Problem, method: str) -> Callable[[], tuple]:
    import solvent.optim

    def body(mon: _Monitor) -> None:
        res = solvent.optim.minimize(problem.f, problem.X0, "stiefel", method=method,
                                     beta="auto", gtol=1e-14, maxiter=MAXITER, seed=0,
                                     callback=lambda it: mon.reached(it.x))
        if mon.rel > TOL:  # stopped on its own: judge the point it returned
            mon.reached(res.x)

    return lambda: _timed(problem, body)


def cdopt_run(problem: Problem, method: str) -> Callable[[], tuple]:
    cdopt = optional_import("cdopt")
    stiefel = optional_import("cdopt.manifold_torch").stiefel_torch
    n, p = problem.X0.shape

    def body(mon: _Monitor) -> None:
        np.random.seed(0)  # CDOpt's beta="auto" samples with numpy's global generator
        M = stiefel((n, p), dtype=torch.float64)
        prob = cdopt.core.problem(M, problem.f, beta="auto", Xinit=problem.X0.clone())

        def check(xk) -> None:
            if mon.reached(torch.from_numpy(np.asarray(xk)).reshape(n, p)):
                raise StopIteration

        options = {"maxiter": MAXITER, "gtol": 1e-14}
        if method == "L-BFGS-B":  # as solvent does: let gtol, not ftol, decide
            options["ftol"] = 1e-15
        res = scipy.optimize.minimize(
            prob.cdf_fun_vec_np, prob.Xinit_vec_np, method=method, jac=prob.cdf_grad_vec_np,
            hessp=prob.cdf_hvp_vec_np if method.startswith("trust") else None, callback=check,
            options=options)
        if mon.rel > TOL:
            mon.reached(torch.from_numpy(res.x).reshape(n, p))

    return lambda: _timed(problem, body)


def pymanopt_run(problem: Problem, which: str) -> Callable[[], tuple]:
    pymanopt = optional_import("pymanopt")
    n, p = problem.X0.shape
    M = pymanopt.manifolds.Stiefel(n, p)

    @pymanopt.function.pytorch(M)
    def cost(X):
        return problem.f(X)

    opt_cls = {"trust regions": pymanopt.optimizers.TrustRegions,
               "conjugate gradient": pymanopt.optimizers.ConjugateGradient}[which]
    X0 = problem.X0.numpy()

    def body(mon: _Monitor) -> None:
        opt = opt_cls(min_gradient_norm=TOL * mon.g0, max_iterations=MAXITER, max_time=600,
                      verbosity=0)
        res = opt.run(pymanopt.Problem(M, cost), initial_point=X0.copy())
        mon.reached(torch.from_numpy(np.asarray(res.point)))
        mon.iterations = res.iterations

    return lambda: _timed(problem, body)


def geoopt_run(problem: Problem) -> Callable[[], tuple]:
    geoopt = optional_import("geoopt")

    def body(mon: _Monitor) -> None:
        X = geoopt.ManifoldParameter(problem.X0.clone(), manifold=geoopt.Stiefel())
        opt = geoopt.optim.RiemannianLineSearch([X], line_search_method="wolfe", cg_method="pr")

        def closure():
            opt.zero_grad()
            loss = problem.f(X)
            loss.backward()
            return float(loss.detach())  # SciPy's Wolfe search (inside geoopt) needs plain numbers

        for _ in range(MAXITER):
            opt.step(closure)
            if mon.reached(X.detach()):
                break

    return lambda: _timed(problem, body)


def eigh_run(problem: Problem) -> Callable[[], tuple]:
    H = problem.H.numpy()
    n, p = problem.X0.shape

    def body(mon: _Monitor) -> None:
        _, V = scipy.linalg.eigh(H, subset_by_index=[n - p, n - 1])
        mon.reached(torch.from_numpy(V))

    return lambda: _timed(problem, body)


def contenders(problem: Problem, solvent_method: str) -> dict[str, Callable[[], Callable]]:
    """name -> builder (returns the run function or raises Skip)."""
    return {
        f"CDOpt + SciPy ({solvent_method})": lambda: cdopt_run(problem, solvent_method),
        "pymanopt trust regions": lambda: pymanopt_run(problem, "trust regions"),
        "pymanopt conjugate gradient": lambda: pymanopt_run(problem, "conjugate gradient"),
        "geoopt RiemannianLineSearch (Wolfe, PR-CG)": lambda: geoopt_run(problem),
        "floor: scipy.linalg.eigh (subset_by_index)": lambda: eigh_run(problem),
    }
