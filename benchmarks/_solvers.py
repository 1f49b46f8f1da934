"""The problems and contenders of the solver benchmark (Q4), each solving to one shared tolerance.

Every contender gets the same objective, the same feasible start X0 and the
same stopping rule: the relative Riemannian gradient norm
``||rgrad f(P(X_k))|| / ||rgrad f(X0)||``, with P the projection onto the
manifold (polar factor; row normalisation), at most ``TOL``. The rule is
checked after every iteration by a callback whose own time is measured and
subtracted (it is the benchmark's instrument, not the solver's work);
pymanopt checks the same quantity itself (its iterates are feasible), so it
gets the absolute threshold ``TOL * ||rgrad f(X0)||``. A run returns
``(seconds, relative gradient norm reached, iterations)``.

Manifolds: ``stiefel`` (X^T X = I) and ``oblique`` (unit rows; pymanopt's
Oblique has unit *columns*, so it solves for X^T).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from _harness import optional_import

__all__ = ["TOL", "Problem", "contenders", "eigh_run", "pca", "problems", "solvent_run"]

TOL = 1e-6
MAXITER = 5000


@dataclass
class Problem:
    """min f(X) over a manifold from X0 (float64), with the benchmark's stopping instrument."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    X0: torch.Tensor
    manifold: str  # "stiefel" or "oblique"
    H: torch.Tensor | None = None  # PCA's matrix, for the eigensolver floor

    def project(self, X: torch.Tensor) -> torch.Tensor:
        if self.manifold == "stiefel":
            U, _, Vh = torch.linalg.svd(X, full_matrices=False)
            return U @ Vh
        return X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)

    def rgrad_norm(self, X: torch.Tensor) -> float:
        """||G - (normal part of G)|| at P(X), G the Euclidean gradient (autograd)."""
        P = self.project(X.detach()).requires_grad_(True)
        with torch.enable_grad():
            (G,) = torch.autograd.grad(self.f(P), P)
        P = P.detach()
        if self.manifold == "stiefel":
            S = P.mT @ G
            R = G - P @ (0.5 * (S + S.mT))
        else:
            R = G - P * (P * G).sum(-1, keepdim=True)
        return float(torch.linalg.vector_norm(R))


# ---------------------------------------------------------------- the problems
def pca(n: int, p: int, seed: int = 0, device: str = "cpu") -> Problem:
    """-1/2 tr(X^T H X) over St(n, p); H = Q D Q^T, top p eigenvalues in [1.5, 2], the rest
    in [0, 1], Q a product of four Householder reflections (built in O(n^2))."""
    g = torch.Generator().manual_seed(seed)
    top = torch.linspace(2.0, 1.5, p, dtype=torch.float64)
    rest = torch.rand(n - p, generator=g, dtype=torch.float64)
    H = torch.diag(torch.cat([top, rest]))
    for _ in range(4):
        v = torch.randn(n, 1, generator=g, dtype=torch.float64)
        v /= torch.linalg.norm(v)
        Hv = H @ v
        H = H - 2 * v @ Hv.mT - 2 * Hv @ v.mT + 4 * float(v.mT @ Hv) * (v @ v.mT)
    H = (0.5 * (H + H.mT)).to(device)
    X0 = torch.linalg.qr(torch.randn(n, p, generator=g, dtype=torch.float64))[0].to(device)
    return Problem(f"PCA St({n}, {p})", lambda X: -0.5 * (X * (H @ X)).sum(), X0, "stiefel", H)


def brockett(n: int, p: int, seed: int = 0) -> Problem:
    """tr(X^T A X N) over St(n, p), A = (B + B^T)/2 Gaussian, N = diag(p, ..., 1)."""
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = 0.5 * (B + B.mT)
    N = torch.arange(p, 0, -1, dtype=torch.float64)
    X0 = torch.linalg.qr(torch.randn(n, p, generator=g, dtype=torch.float64))[0]
    return Problem(f"Brockett tr(XᵀAXN) St({n}, {p})", lambda X: ((A @ X) * X * N).sum(), X0,
                   "stiefel")


def nearest_correlation(n: int, k: int, seed: int = 0) -> Problem:
    """1/4 ||X X^T - C||_F^2 over n x k matrices with unit rows (a rank-k correlation matrix
    nearest C); C the correlation matrix of 2n Gaussian samples of n variables."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(2 * n, n, generator=g, dtype=torch.float64)
    S = D.mT @ D
    d = torch.diagonal(S).rsqrt()
    C = d[:, None] * S * d[None, :]
    X0 = torch.randn(n, k, generator=g, dtype=torch.float64)
    X0 = X0 / torch.linalg.vector_norm(X0, dim=-1, keepdim=True)
    return Problem(f"nearest correlation, oblique ({n}, {k})",
                   lambda X: 0.25 * (X @ X.mT - C).square().sum(), X0, "oblique")


def problems(device: str = "cpu") -> dict[str, Callable[[], Problem]]:
    """The four small problems and the two large PCA sizes, by short name."""
    return {
        "brockett": lambda: brockett(50, 5),
        "pca200": lambda: pca(200, 5),
        "pca1000": lambda: pca(1000, 10),
        "corr": lambda: nearest_correlation(40, 4),
        "pca1000x20": lambda: pca(1000, 20, device=device),
        "pca5000x20": lambda: pca(5000, 20, device=device),
    }


# ---------------------------------------------------------------- the contenders
class _Monitor:
    """The shared stopping rule, with its own time kept apart."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.g0 = problem.rgrad_norm(problem.X0)
        self.overhead = 0.0
        self.rel = math.inf
        self.iterations = 0

    def reached(self, X: torch.Tensor) -> bool:
        t0 = time.perf_counter()
        self.iterations += 1
        self.rel = self.problem.rgrad_norm(X) / self.g0
        self.overhead += time.perf_counter() - t0
        return self.rel <= TOL


def _timed(problem: Problem, body: Callable[[_Monitor], object]) -> tuple[float, float, int]:
    mon = _Monitor(problem)
    if problem.X0.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    body(mon)
    if problem.X0.is_cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0 - mon.overhead
    return elapsed, mon.rel, mon.iterations


def solvent_run(problem: Problem, method: str) -> Callable[[], tuple]:
    import solvent.optim

    def body(mon: _Monitor) -> None:
        res = solvent.optim.minimize(problem.f, problem.X0, problem.manifold, method=method,
                                     beta="auto", gtol=1e-14, maxiter=MAXITER, seed=0,
                                     callback=lambda it: mon.reached(it.x))
        if mon.rel > TOL:  # stopped on its own: judge the point it returned
            mon.reached(res.x)

    return lambda: _timed(problem, body)


def cdopt_run(problem: Problem, method: str) -> Callable[[], tuple]:
    import scipy.optimize

    cdopt = optional_import("cdopt")
    mt = optional_import("cdopt.manifold_torch")
    factory = {"stiefel": mt.stiefel_torch, "oblique": mt.oblique_torch}[problem.manifold]
    shape = tuple(problem.X0.shape)

    def body(mon: _Monitor) -> None:
        np.random.seed(0)  # CDOpt's beta="auto" samples with numpy's global generator
        M = factory(shape, dtype=torch.float64)
        prob = cdopt.core.problem(M, problem.f, beta="auto", Xinit=problem.X0.clone())

        def check(xk) -> None:
            if mon.reached(torch.from_numpy(np.asarray(xk)).reshape(shape)):
                raise StopIteration

        options = {"maxiter": MAXITER, "gtol": 1e-14}
        if method == "L-BFGS-B":  # as solvent does: let gtol, not ftol, decide
            options["ftol"] = 1e-15
        res = scipy.optimize.minimize(
            prob.cdf_fun_vec_np, prob.Xinit_vec_np, method=method, jac=prob.cdf_grad_vec_np,
            hessp=prob.cdf_hvp_vec_np if method.startswith("trust") else None, callback=check,
            options=options)
        if mon.rel > TOL:
            mon.reached(torch.from_numpy(res.x).reshape(shape))

    return lambda: _timed(problem, body)


def pymanopt_run(problem: Problem, which: str) -> Callable[[], tuple]:
    """pymanopt with its own PyTorch autodiff backend, as its documentation uses it."""
    pymanopt = optional_import("pymanopt")
    n, p = problem.X0.shape
    oblique = problem.manifold == "oblique"
    M = pymanopt.manifolds.Oblique(p, n) if oblique else pymanopt.manifolds.Stiefel(n, p)

    @pymanopt.function.pytorch(M)
    def cost(X):
        return problem.f(X.mT if oblique else X)

    opt_cls = {"trust regions": pymanopt.optimizers.TrustRegions,
               "conjugate gradient": pymanopt.optimizers.ConjugateGradient}[which]
    X0 = (problem.X0.mT if oblique else problem.X0).cpu().numpy()

    def body(mon: _Monitor) -> None:
        opt = opt_cls(min_gradient_norm=TOL * mon.g0, max_iterations=MAXITER, max_time=600,
                      verbosity=0)
        res = opt.run(pymanopt.Problem(M, cost), initial_point=X0.copy())
        X = torch.from_numpy(np.asarray(res.point))
        mon.reached(X.mT if oblique else X)
        mon.iterations = res.iterations

    return lambda: _timed(problem, body)


def geoopt_run(problem: Problem) -> Callable[[], tuple]:
    geoopt = optional_import("geoopt")
    # geoopt's Sphere normalises the last dimension: on an (n, k) tensor, unit rows (oblique)
    manifold = geoopt.Stiefel() if problem.manifold == "stiefel" else geoopt.Sphere()

    def body(mon: _Monitor) -> None:
        X = geoopt.ManifoldParameter(problem.X0.clone(), manifold=manifold)
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


def contenders(problem: Problem, cdopt_method: str) -> dict[str, Callable[[], Callable]]:
    """The peers: name -> builder (returns the run function or raises Skip)."""
    return {
        "pymanopt trust regions": lambda: pymanopt_run(problem, "trust regions"),
        "pymanopt conjugate gradient": lambda: pymanopt_run(problem, "conjugate gradient"),
        f"CDOpt + SciPy ({cdopt_method})": lambda: cdopt_run(problem, cdopt_method),
        "geoopt RiemannianLineSearch (Wolfe, PR-CG)": lambda: geoopt_run(problem),
    }


def eigh_run(problem: Problem) -> Callable[[], tuple]:
    """The floor for a PCA problem: a dense symmetric eigensolver for the top p eigenvectors."""
    import scipy.linalg

    H = problem.H.cpu().numpy()
    n, p = problem.X0.shape

    def body(mon: _Monitor) -> None:
        _, V = scipy.linalg.eigh(H, subset_by_index=[n - p, n - 1])
        mon.reached(torch.from_numpy(V).to(problem.X0.device))

    return lambda: _timed(problem, body)
