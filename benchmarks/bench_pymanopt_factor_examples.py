"""pymanopt's factor-manifold examples beside solvent's rewrites, from the same start points.

For each example in ``examples/`` (fixed_rank_approximation, fixed_rank_completion,
psd_fixed_rank_approximation, psd_gaussian_mixture, elliptope_correlation,
elliptope_maxcut), the
problem data come from the example's own ``problem()``; pymanopt 2.2.1 draws a
start on its manifold (``FixedRankEmbedded``, ``PSDFixedRank``, ``Elliptope``,
``SymmetricPositiveDefinite`` x ``Euclidean``; NumPy seeded), that point X0 is
handed to solvent as the start too, and each
library solves with its own solver (pymanopt: the optimizer its example uses,
default stopping rules, PyTorch autodiff backend; trust regions for the
mixture, whose notebook uses steepest descent; solvent: the example's
``solve``). The table compares the optima: the objective values, the distance
between the two points reached, and (where known) each one's distance to the
closed-form answer. Wall times are single runs after one untimed warm-up
run of the first example (the first torch optimizer of a process imports
torch._dynamo, seconds), for orientation only.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_pymanopt_factor_examples.py [--quick]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

import elliptope_correlation as corr  # noqa: E402
import elliptope_maxcut as maxcut  # noqa: E402
import fixed_rank_approximation as fr_approx  # noqa: E402
import fixed_rank_completion as fr_completion  # noqa: E402
import numpy as np  # noqa: E402
import psd_fixed_rank_approximation as psd_approx  # noqa: E402
import psd_gaussian_mixture as mixture  # noqa: E402
import torch  # noqa: E402
from _harness import (  # noqa: E402
    Skip,
    Table,
    machine_info,
    make_parser,
    optional_import,
    resolve,
    write_tables,  # noqa: E402
)

F64 = torch.float64


def _rel(X: torch.Tensor, Y: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(X - Y) / torch.linalg.vector_norm(Y))


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _fixed_rank(pymanopt, f, A: torch.Tensor, k: int, seed: int):
    """pymanopt's FixedRankEmbedded with conjugate gradients (its example's solver)."""
    m, n = A.shape
    manifold = pymanopt.manifolds.FixedRankEmbedded(m, n, k)

    @pymanopt.function.pytorch(manifold)
    def cost(u, s, vt):
        return f(u @ torch.diag(s) @ vt)

    np.random.seed(seed)
    start = manifold.random_point()
    x0 = torch.from_numpy(start[0] @ np.diag(start[1]) @ start[2])
    opt = pymanopt.optimizers.ConjugateGradient(verbosity=0, beta_rule="PolakRibiere")
    res, secs = _timed(lambda: opt.run(pymanopt.Problem(manifold, cost), initial_point=start))
    return x0, torch.from_numpy(res.point[0] @ np.diag(res.point[1]) @ res.point[2]), res.cost, secs


def _factor(pymanopt, f, cls: str, n: int, k: int, seed: int, **options):
    """pymanopt's PSDFixedRank / Elliptope (points Y, X = Y Y^T) with trust regions."""
    manifold = getattr(pymanopt.manifolds, cls)(n, k)

    @pymanopt.function.pytorch(manifold)
    def cost(Y):
        return f(Y @ Y.mT)

    np.random.seed(seed)
    Y0 = manifold.random_point()
    opt = pymanopt.optimizers.TrustRegions(verbosity=0, **options)
    res, secs = _timed(lambda: opt.run(pymanopt.Problem(manifold, cost), initial_point=Y0))
    Y = torch.from_numpy(res.point)
    return torch.from_numpy(Y0 @ Y0.T), Y @ Y.mT, res.cost, secs


def _mixture(pymanopt, f, seed: int):
    """pymanopt's SPD(D)^K x Euclidean(K - 1) with trust regions; points compared as S."""
    manifold = pymanopt.manifolds.Product(
        [pymanopt.manifolds.SymmetricPositiveDefinite(3, k=3), pymanopt.manifolds.Euclidean(2)])

    @pymanopt.function.pytorch(manifold)
    def cost(S, v):
        return f(S, v)

    np.random.seed(seed)
    S0, v0 = manifold.random_point()
    opt = pymanopt.optimizers.TrustRegions(verbosity=0)
    res, secs = _timed(lambda: opt.run(pymanopt.Problem(manifold, cost), initial_point=[S0, v0]))
    start = (torch.from_numpy(S0), torch.from_numpy(v0))
    return start, torch.from_numpy(res.point[0]), res.cost, secs


def _ours(fit):
    """(point, value) of an example's result (an OptimizeResult, or the mixture's Fit)."""
    return (fit.S, fit.fun) if hasattr(fit, "S") else (fit.x, fit.fun)


def cases(quick: bool):
    """(example, size, pymanopt runner (seed -> start, X, f, s), solvent runner, closed form)."""
    n_psd = 50 if quick else 200
    n_cut, k_cut = (12, 5) if quick else (40, 9)
    A1 = fr_approx.problem(5, 4, 0)
    A2, mask = fr_completion.problem(60, 50, 3, 0.5, 0)
    A3 = psd_approx.problem(n_psd, 5, 0)
    A4 = corr.problem(10, 0)
    L5 = maxcut.problem(n_cut, 0.5, 0)
    X6 = mixture.problem(200 if quick else 1000, 0)
    return [
        ("fixed_rank_approximation", "5 x 4, k=2",
         lambda pm, s: _fixed_rank(pm, lambda X: (X - A1).square().sum(), A1, 2, s),
         lambda x0: fr_approx.solve(A1, 2, x0), fr_approx.truncated_svd(A1, 2)),
        ("fixed_rank_completion", "60 x 50, k=3, p=0.5",
         lambda pm, s: _fixed_rank(pm, lambda X: (mask * (X - A2)).square().sum(), A2, 3, s),
         lambda x0: fr_completion.solve(A2, mask, 3, x0), A2),
        ("psd_fixed_rank_approximation", f"{n_psd} x {n_psd}, k=5",
         lambda pm, s: _factor(pm, lambda X: (X - A3).square().sum(), "PSDFixedRank", n_psd, 5,
                               s, max_iterations=500, min_step_size=1e-6),
         lambda x0: psd_approx.solve(A3, 5, x0), A3),
        ("psd_gaussian_mixture", f"K=3, D=3, n={X6.shape[0]}",
         lambda pm, s: _mixture(pm, mixture.cost(X6), s),
         lambda start: mixture.solve(X6, *start), None),
        ("elliptope_correlation", "10 x 10, k=3",
         lambda pm, s: _factor(pm, corr.cost(A4), "Elliptope", 10, 3, s),
         lambda x0: corr.solve(A4, 3, x0), None),
        ("elliptope_maxcut", f"{n_cut} x {n_cut}, k={k_cut}",
         lambda pm, s: _factor(pm, lambda X: -0.25 * (L5 * X).sum(), "Elliptope", n_cut, k_cut,
                               s),
         lambda x0: maxcut.solve(L5, k_cut, x0), None),
    ]


def main(argv=None) -> list[Table]:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=1)
    parser.add_argument("--seeds", default="0,1,2", help="start points (NumPy seeds)")
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(args.thread_list[0])
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    t = Table(
        "pymanopt 2.2.1 examples and solvent's rewrites, same start",
        ["example", "size", "seed", "f pymanopt", "f solvent", "|Δf| / max(|f|, 1)",
         "‖X_s − X_p‖ / ‖X_p‖", "closed form: pymanopt / solvent", "s pymanopt / solvent"],
    )
    try:
        pymanopt = optional_import("pymanopt")
    except Skip as err:
        t.notes.append(f"skipped: {err}")
        write_tables([t], args.markdown)
        return [t]
    warnings.filterwarnings("ignore", module="pymanopt")  # its own stride-copy notices
    todo = cases(args.quick)
    todo[0][3](todo[0][2](pymanopt, 0)[0])  # warm-up, untimed
    for name, size, run_pymanopt, run_solvent, best in todo:
        for seed in seeds:
            x0, X_p, f_p, secs_p = run_pymanopt(pymanopt, seed)
            fit, secs_s = _timed(lambda run_solvent=run_solvent, x0=x0: run_solvent(x0))
            X_s, f_s = _ours(fit)
            exact = "–" if best is None else f"{_rel(X_p, best):.1e} / {_rel(X_s, best):.1e}"
            t.rows.append([name, size, str(seed), f"{f_p:.10g}", f"{f_s:.10g}",
                           f"{abs(f_s - f_p) / max(abs(f_p), 1.0):.1e}",
                           f"{_rel(X_s, X_p):.1e}", exact, f"{secs_p:.2f} / {secs_s:.2f}"])
    t.notes.append(machine_info(args.thread_list, "cpu"))
    write_tables([t], args.markdown)
    return [t]


if __name__ == "__main__":
    main()
