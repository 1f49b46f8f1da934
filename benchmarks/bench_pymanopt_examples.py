"""pymanopt 2.2.1's example problems, each solved by solvent and by the pymanopt solver its example
uses, from the same start, interleaved in one process.

The problems are the ones of pymanopt's ``examples/`` directory (sizes, data
distributions and solver as there), written here from their mathematics:

=====================================  ==========================  ===================  ==================
example                                problem                     pymanopt             solvent
=====================================  ==========================  ===================  ==================
closest_unit_norm_column_approximation min 1/2 ||X - A||^2         Oblique(5, 8), CG    oblique (8, 5) = Xᵀ
dominant_eigenvector                   min -xᵀAx                   Sphere(128), SD      sphere (128,)
dominant_invariant_subspace            min -tr(XᵀAX)               Grassmann(128, 3),TR grassmann (128, 3)
dominant_invariant_complex_subspace    min -Re tr(XᴴAX)            ComplexGrassmann, TR grassmann, complex
low_rank_matrix_approximation          min ||U diag(s) Vᵀ - A||^2  FixedRankEmbedded,CG product(St, R^k, St)
low_rank_psd_matrix_approximation      min ||Y Yᵀ - A||^2          PSDFixedRank, TR     euclidean (1000, 5)
multiple_linear_regression             min ||y - S w||^2           Euclidean(3), TR     euclidean (3,)
optimal_rotations                      min -sum <X_i, A_i B_iᵀ>    SO(3)^10, SD         so (10, 3, 3)
packing_on_the_sphere                  smoothed max <y_i, y_j>     Elliptope(24, 3), CG oblique (24, 3)
pca                                    min ||S - S W Wᵀ||^2        Stiefel(3, 2), TR    stiefel (3, 2)
rank_k_correlation_matrix_approx.      min 1/4 ||XᵀX - A||^2       Oblique(3, 10), TR   oblique (10, 3) = Xᵀ
complex circle (not an example)        min xᴴAx, |x_i| = 1         ComplexCircle(50),CG oblique (50, 1) complex
the same, key circle_phases (opt-in)   min xᴴAx, |x_i| = 1         ComplexCircle(50),CG complex_circle (50,)
=====================================  ==========================  ===================  ==================

(SD steepest descent, CG conjugate gradient, TR trust regions.) pymanopt's
fixed-rank, PSD fixed-rank and elliptope manifolds are quotients or
factorisations; solvent solves the same problems on the factors (U, s, V),
Y and unit-row Y, which reach the same optimal values. The mixture-of-Gaussians
notebook needs SPD matrices and is not here. Both sides stop at Riemannian
gradient norm 1e-6 (pymanopt's default ``min_gradient_norm``; solvent's default
``gtol``), pymanopt with the rest of its defaults and the example's options.
Every contender is warmed up once, then ``--reps`` interleaved repetitions
(order reversed every other one); the table shows medians, both optima, their
relative difference and success.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_pymanopt_examples.py [--reps 5]
        [--examples rotations,circle,...] [--methods L-BFGS,trust-region]
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Stats, Table, machine_info, make_parser, optional_import, resolve, write_tables

F64, C128 = torch.float64, torch.complex128


@dataclass
class Example:
    """One problem: solvent's side (f, x0, manifold) and pymanopt's (manifold, cost, start)."""

    name: str
    f: Callable
    x0: object
    manifold: object  # a solvent name or instance
    pm_manifold: Callable  # pymanopt module -> its manifold
    pm_cost: Callable  # torch cost in pymanopt's convention
    pm_x0: object
    pm_optimizer: Callable  # pymanopt module -> its optimizer (the example's)
    pm_run_kwargs: dict | None = None


def _sym(rng: np.random.Generator, n: int) -> torch.Tensor:
    A = rng.normal(size=(n, n))
    return torch.from_numpy(0.5 * (A + A.T))


def _orth(rng: np.random.Generator, n: int, p: int, complex_: bool = False) -> torch.Tensor:
    G = rng.normal(size=(n, p)) + (1j * rng.normal(size=(n, p)) if complex_ else 0)
    return torch.linalg.qr(torch.from_numpy(G))[0]


def _unit_rows(rng: np.random.Generator, n: int, k: int) -> torch.Tensor:
    Y = torch.from_numpy(rng.normal(size=(n, k)))
    return Y / torch.linalg.vector_norm(Y, dim=-1, keepdim=True)


# ---------------------------------------------------------------- the examples
def closest_unit_norm_column(rng) -> Example:
    A = torch.from_numpy(rng.normal(size=(5, 8)))
    X0 = _unit_rows(rng, 8, 5)  # solvent: rows of X^T
    return Example("closest unit-norm columns, Oblique(5, 8)",
                   lambda Y: 0.5 * ((Y.mT - A) ** 2).sum(), X0, "oblique",
                   lambda pm: pm.manifolds.Oblique(5, 8), lambda X: 0.5 * ((X - A) ** 2).sum(),
                   X0.mT.numpy().copy(),
                   lambda pm: pm.optimizers.ConjugateGradient(verbosity=0,
                                                              beta_rule="FletcherReeves"))


def dominant_eigenvector(rng) -> Example:
    A = _sym(rng, 128)
    x0 = torch.from_numpy(rng.normal(size=128))
    x0 = x0 / torch.linalg.vector_norm(x0)
    return Example("dominant eigenvector, Sphere(128)", lambda x: -(x @ A @ x), x0, "sphere",
                   lambda pm: pm.manifolds.Sphere(128), lambda x: -(x @ A @ x), x0.numpy().copy(),
                   lambda pm: pm.optimizers.SteepestDescent(verbosity=0))


def dominant_subspace(rng, complex_: bool = False) -> Example:
    A = _sym(rng, 128) if not complex_ else None
    if complex_:
        Z = rng.normal(size=(128, 128)) + 1j * rng.normal(size=(128, 128))
        A = torch.from_numpy(0.5 * (Z + Z.conj().T))
    X0 = _orth(rng, 128, 3, complex_)

    def cost(X):
        return -(X.conj() * (A @ X)).sum().real

    name = "ComplexGrassmann" if complex_ else "Grassmann"
    return Example(f"dominant invariant subspace, {name}(128, 3)", cost, X0, "grassmann",
                   lambda pm: getattr(pm.manifolds, name)(128, 3), cost, X0.numpy().copy(),
                   lambda pm: pm.optimizers.TrustRegions(verbosity=0),
                   {"Delta_bar": 8 * math.sqrt(3)})


def low_rank(rng) -> Example:
    import solvent

    A = torch.from_numpy(rng.normal(size=(5, 4)))
    U0, V0 = _orth(rng, 5, 2), _orth(rng, 4, 2)
    s0 = torch.from_numpy(np.sort(rng.uniform(0.5, 2.0, size=2))[::-1].copy())

    def cost(u, s, vt):
        return ((u @ torch.diag(s) @ vt - A) ** 2).sum()

    P = solvent.manifold("product", manifolds=("stiefel", "euclidean", "stiefel"))
    return Example("low-rank approximation, FixedRankEmbedded(5, 4, 2)",
                   lambda X: cost(X[0], X[1], X[2].mT), (U0, s0, V0), P,
                   lambda pm: pm.manifolds.FixedRankEmbedded(5, 4, 2), cost,
                   (U0.numpy().copy(), s0.numpy().copy(), V0.mT.numpy().copy()),
                   lambda pm: pm.optimizers.ConjugateGradient(verbosity=0,
                                                              beta_rule="PolakRibiere"))


def low_rank_psd(rng) -> Example:
    L = torch.from_numpy(rng.normal(size=(1000, 5)))
    A = L @ L.mT
    Y0 = torch.from_numpy(rng.normal(size=(1000, 5)))

    def cost(Y):
        return ((Y @ Y.mT - A) ** 2).sum()

    return Example("low-rank PSD approximation, PSDFixedRank(1000, 5)", cost, Y0, "euclidean",
                   lambda pm: pm.manifolds.PSDFixedRank(1000, 5), cost, Y0.numpy().copy(),
                   lambda pm: pm.optimizers.TrustRegions(verbosity=0, max_iterations=500,
                                                         min_step_size=1e-6))


def linear_regression(rng) -> Example:
    S = torch.from_numpy(rng.normal(size=(200, 3)))
    y = torch.from_numpy(rng.normal(size=200))
    w0 = torch.from_numpy(rng.normal(size=3))

    def cost(w):
        return ((y - S @ w) ** 2).sum()

    return Example("multiple linear regression, Euclidean(3)", cost, w0, "euclidean",
                   lambda pm: pm.manifolds.Euclidean(3), cost, w0.numpy().copy(),
                   lambda pm: pm.optimizers.TrustRegions(verbosity=0))


def optimal_rotations(rng) -> Example:
    import solvent

    A, B = rng.normal(size=(10, 3, 10)), rng.normal(size=(10, 3, 10))
    ABt = torch.from_numpy(A @ B.transpose(0, 2, 1))
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    X0 = solvent.manifold("so").random(10, 3, 3, dtype=F64, generator=gen)

    def cost(X):
        return -(X * ABt).sum()

    return Example("optimal rotations, SO(3)^10", cost, X0, "so",
                   lambda pm: pm.manifolds.SpecialOrthogonalGroup(3, k=10), cost,
                   X0.numpy().copy(), lambda pm: pm.optimizers.SteepestDescent(verbosity=0))


def packing(rng) -> Example:
    eps = 0.005
    Y0 = _unit_rows(rng, 24, 3)

    def cost(Y):
        G = Y @ Y.mT
        s = torch.triu(G, 1).max()
        E = torch.exp((G - s) / eps)
        E = E - torch.diag(torch.diag(E))
        return s + eps * torch.log(torch.triu(E, 1).sum())

    return Example("packing on the sphere, Elliptope(24, 3)", cost, Y0, "oblique",
                   lambda pm: pm.manifolds.Elliptope(24, 3), cost, Y0.numpy().copy(),
                   lambda pm: pm.optimizers.ConjugateGradient(verbosity=0, min_gradient_norm=1e-8,
                                                              max_iterations=100000))


def pca(rng) -> Example:
    S = torch.from_numpy(rng.normal(size=(200, 3)) @ np.diag([3.0, 2.0, 1.0]))
    S = S - S.mean(0)
    W0 = _orth(rng, 3, 2)

    def cost(W):
        return ((S - S @ W @ W.mT) ** 2).sum()

    return Example("PCA, Stiefel(3, 2)", cost, W0, "stiefel",
                   lambda pm: pm.manifolds.Stiefel(3, 2), cost, W0.numpy().copy(),
                   lambda pm: pm.optimizers.TrustRegions(verbosity=0))


def rank_k_correlation(rng) -> Example:
    A = _sym(rng, 10)
    X0 = _unit_rows(rng, 10, 3)
    return Example("rank-3 correlation matrix, Oblique(3, 10)",
                   lambda Y: 0.25 * ((Y @ Y.mT - A) ** 2).sum(), X0, "oblique",
                   lambda pm: pm.manifolds.Oblique(3, 10),
                   lambda X: 0.25 * ((X.mT @ X - A) ** 2).sum(), X0.mT.numpy().copy(),
                   lambda pm: pm.optimizers.TrustRegions(verbosity=0))


def complex_circle(rng, phases: bool = False) -> Example:
    Z = rng.normal(size=(50, 50)) + 1j * rng.normal(size=(50, 50))
    A = torch.from_numpy(Z + Z.conj().T)
    z0 = torch.from_numpy(np.exp(2j * np.pi * rng.uniform(size=50)))
    name, x0 = ("complex_circle", z0.clone()) if phases else ("oblique", z0[:, None].clone())
    return Example(f"complex circle, ComplexCircle(50); solvent: {name}",
                   lambda x: (x.conj() * (A @ x)).sum().real, x0, name,
                   lambda pm: pm.manifolds.ComplexCircle(50),
                   lambda z: (z.conj() * (A @ z)).sum().real, z0.numpy().copy(),
                   lambda pm: pm.optimizers.ConjugateGradient(verbosity=0))


EXAMPLES = {
    "unit_columns": closest_unit_norm_column,
    "eigenvector": dominant_eigenvector,
    "subspace": dominant_subspace,
    "complex_subspace": lambda rng: dominant_subspace(rng, complex_=True),
    "low_rank": low_rank,
    "low_rank_psd": low_rank_psd,
    "regression": linear_regression,
    "rotations": optimal_rotations,
    "packing": packing,
    "pca": pca,
    "correlation": rank_k_correlation,
    "circle": complex_circle,
    "circle_phases": lambda rng: complex_circle(rng, phases=True),
}


# ---------------------------------------------------------------- the runs
def solvent_run(ex: Example, method: str) -> Callable[[], tuple[float, bool]]:
    import solvent
    import solvent.optim

    M = solvent.manifold(ex.manifold)  # built once, as pymanopt's manifold is

    def run() -> tuple[float, bool]:
        res = solvent.optim.minimize(ex.f, ex.x0, M, method=method)
        return res.fun, res.success

    return run


def pymanopt_run(ex: Example) -> Callable[[], tuple[float, bool]]:
    pm = optional_import("pymanopt")
    M = ex.pm_manifold(pm)
    cost = pm.function.pytorch(M)(ex.pm_cost)
    x0 = ex.pm_x0

    def run() -> tuple[float, bool]:
        opt = ex.pm_optimizer(pm)
        start = tuple(a.copy() for a in x0) if isinstance(x0, tuple) else x0.copy()
        res = opt.run(pm.Problem(M, cost), initial_point=start, **(ex.pm_run_kwargs or {}))
        return float(res.cost), "min grad norm" in res.stopping_criterion

    return run


def _timed(fn: Callable[[], tuple]) -> tuple[float, tuple]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _bench(key: str, args) -> tuple[Table, dict]:
    ex = EXAMPLES[key](np.random.default_rng(args.seed))
    runs = {f"solvent {m}": solvent_run(ex, m) for m in args.methods.split(",")}
    runs["pymanopt"] = pymanopt_run(ex)
    outs = {k: fn() for k, fn in runs.items()}  # warm-up, and the optima
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.reps):
        for k in runs if r % 2 == 0 else list(runs)[::-1]:
            dt, outs[k] = _timed(runs[k])
            times[k].append(dt)
    stats = {k: Stats.of(v) for k, v in times.items()}
    ref = stats["pymanopt"].median
    ref_fun = outs["pymanopt"][0]
    t = Table(ex.name, ["contender", "median ms", "min–max ms", "optimum", "rel. diff.",
                        "success", "÷ pymanopt"])
    for k, s in stats.items():
        fun, ok = outs[k]
        rel = abs(fun - ref_fun) / max(1.0, abs(ref_fun))
        t.rows.append([k, f"{s.median * 1e3:.3g}", f"{s.min * 1e3:.3g}–{s.max * 1e3:.3g}",
                       f"{fun:.12g}", f"{rel:.1e}", str(ok), f"{s.median / ref:.2f}x"])
    return t, {k: s.median / ref for k, s in stats.items() if k != "pymanopt"}


def main(argv: list[str] | None = None) -> list:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=5)
    default = ",".join(k for k in EXAMPLES if k != "circle_phases")  # one circle in the means
    parser.add_argument("--examples", default=default,
                        help=f"comma-separated keys of {', '.join(EXAMPLES)} (default: all but "
                        "circle_phases, the circle again on complex_circle)")
    parser.add_argument("--methods", default="L-BFGS,trust-region", help="solvent methods")
    parser.add_argument("--seed", type=int, default=0, help="numpy seed of each example's data")
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(args.thread_list[0])
    print(machine_info(args.thread_list, args.device))
    tables, ratios = [], {}
    for key in args.examples.split(","):
        table, r = _bench(key, args)
        tables.append(table)
        ratios[key] = r
        print(table.markdown(), flush=True)
    summary = Table(f"solvent ÷ pymanopt, median of {args.reps}", ["example", *ratios[key]])
    for key, r in ratios.items():
        summary.rows.append([key, *(f"{v:.2f}x" for v in r.values())])
    for m in ratios[key]:
        values = [r[m] for r in ratios.values()]
        gm = math.exp(sum(map(math.log, values)) / len(values))
        summary.notes.append(f"{m}: geometric mean {gm:.2f}x, worst {max(values):.2f}x")
    best = [min(r.values()) for r in ratios.values()]
    summary.notes.append(f"best solvent method per example: geometric mean "
                         f"{math.exp(sum(map(math.log, best)) / len(best)):.2f}x, "
                         f"worst {max(best):.2f}x")
    tables.append(summary)
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
