"""The open-set chart maps (and symmetric, skew) at layer sizes beside geotorch's and geoopt's.

One training step of an n x n weight constrained to each set, float32, on
the CPU with one thread, every contender interleaved in one process: build
the weight the way each library's documentation does it, take
``loss = <W, R>``, backpropagate, and take one Adam step. solvent and
geotorch evaluate a map from free coordinates (forward and backward);
geoopt keeps the weight on the manifold and pays in the optimizer
(RiemannianAdam: Riemannian gradient, retraction, transport). The
"exactness" column is measured on the weight each contender hands out:

* positive: the smallest entry (> 0 needed); spd: the smallest eigenvalue
  and ||W - W^T||; invertible: the sign of det W; poincare_ball (each row a
  point, c = 1): the largest c ||w||^2 (< 1 needed); birkhoff: the largest
  |row or column sum - 1|; symmetric / skew: the largest abs(W -+ W^T) entry.

Target: solvent no slower than the fastest peer at equal or better exactness.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_maps_open.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _harness import (
    Table,
    build,
    fmt_ms,
    fmt_ratio,
    machine_info,
    make_parser,
    optional_import,
    resolve,
    time_interleaved,
    write_tables,
)
from torch import nn

import solvent

SOLVENT = "solvent"
LR = 1e-3


def exactness(name: str, W: torch.Tensor) -> str:
    """The feasibility figure of the module docstring, for the weight W."""
    W = W.detach().double()
    if name == "positive":
        return f"min {float(W.min()):.2g}"
    if name == "spd":
        w = torch.linalg.eigvalsh(0.5 * (W + W.mT))
        return f"λmin {float(w.min()):.2g}, asym {float((W - W.mT).abs().max()):.1g}"
    if name == "invertible":
        return f"sign det {int(torch.linalg.slogdet(W)[0])}"
    if name in ("symmetric", "skew"):
        sign = 1.0 if name == "skew" else -1.0
        op = "+" if sign > 0 else "-"
        return f"max abs(W {op} Wᵀ) {float((W + sign * W.mT).abs().max()):.1g}"
    if name == "poincare_ball":
        return f"max c‖w‖² {float(W.square().sum(-1).max()):.8f}"
    sums = torch.cat([W.sum(-1), W.sum(-2)])
    return f"max abs(sum-1) {float((sums - 1).abs().max()):.1g}"


def _step(weight, params, opt, R):
    """One step: the weight, <W, R>, backward, the optimizer."""

    def run():
        opt.zero_grad()
        W = weight()
        (W * R).sum().backward()
        opt.step()
        return W

    return run


def solvent_contender(name: str, n: int, R: torch.Tensor):
    def make():
        M = solvent.manifold(name)
        W0 = M.random(n, n, generator=torch.Generator().manual_seed(0))
        Z = nn.Parameter(M.lift(W0))
        opt = torch.optim.Adam([Z], lr=LR)
        return _step(lambda: M._dissolve(Z), [Z], opt, R)  # the hot path a layer calls

    return make


def geotorch_contender(constraint: str, n: int, R: torch.Tensor):
    def make():
        gt = optional_import("geotorch")
        layer = nn.Linear(n, n, bias=False)
        getattr(gt, constraint)(layer, "weight")
        opt = torch.optim.Adam(layer.parameters(), lr=LR)
        return _step(lambda: layer.weight, layer.parameters(), opt, R)

    return make


def geoopt_contender(manifold: str, n: int, R: torch.Tensor, start):
    def make():
        go = optional_import("geoopt")
        M = getattr(go, manifold)()
        W = go.ManifoldParameter(start(n), manifold=M)
        opt = go.optim.RiemannianAdam([W], lr=LR)
        return _step(lambda: W, [W], opt, R)

    return make


def geoopt_expmap0(n: int, R: torch.Tensor):
    def make():
        go = optional_import("geoopt")
        ball = go.PoincareBall(c=1.0)
        Z = nn.Parameter(0.1 * torch.randn(n, n, generator=torch.Generator().manual_seed(0)))
        opt = torch.optim.Adam([Z], lr=LR)
        return _step(lambda: ball.expmap0(Z), [Z], opt, R)

    return make


def _spd_start(n):
    G = torch.randn(n, n, generator=torch.Generator().manual_seed(0))
    return G @ G.mT / n + torch.eye(n)


def _ball_start(n):
    G = torch.randn(n, n, generator=torch.Generator().manual_seed(0))
    return 0.5 * G / G.norm(dim=-1, keepdim=True)


def _birkhoff_start(n):
    return torch.full((n, n), 1.0 / n)


def contenders(name: str, n: int, R: torch.Tensor) -> dict:
    out = {SOLVENT: solvent_contender(name, n, R)}
    if name == "spd":
        out["geotorch positive_definite"] = geotorch_contender("positive_definite", n, R)
        out["geoopt SymmetricPositiveDefinite"] = geoopt_contender(
            "SymmetricPositiveDefinite", n, R, _spd_start)
    elif name == "invertible":
        out["geotorch invertible"] = geotorch_contender("invertible", n, R)
    elif name == "poincare_ball":
        out["geoopt PoincareBall expmap0"] = geoopt_expmap0(n, R)
        out["geoopt PoincareBall parameter"] = geoopt_contender("PoincareBall", n, R, _ball_start)
    elif name in ("symmetric", "skew"):
        out[f"geotorch {name}"] = geotorch_contender(name, n, R)
    elif name == "birkhoff":
        out["geoopt BirkhoffPolytope"] = geoopt_contender("BirkhoffPolytope", n, R,
                                                          _birkhoff_start)
    return out


PEERLESS = {"positive": "no peer has an entrywise-positive constraint"}


def run(name: str, n: int, reps: int, warmup: int) -> Table:
    R = torch.randn(n, n, generator=torch.Generator().manual_seed(1))
    fns, skipped = build(contenders(name, n, R), required=[SOLVENT])
    stats = time_interleaved(fns, reps=reps, warmup=warmup)
    sol = stats[SOLVENT].median
    fastest_peer = min((s.median for k, s in stats.items() if k != SOLVENT), default=None)
    t = Table(f"{name} {n}x{n}, float32, 1 thread: one step (map fwd+bwd, Adam), {reps} reps",
              ["contender", "median ms", "IQR ms", "÷ solvent", "exactness of the weight"])
    for k, s in stats.items():
        t.rows.append([k, fmt_ms(s.median), s.spread(), fmt_ratio(s.median / sol),
                       exactness(name, fns[k]())])
    if fastest_peer is not None:
        verdict = "met" if sol <= fastest_peer else "MISSED"
        t.notes.append(f"solvent ÷ fastest peer: {fmt_ratio(sol / fastest_peer)} ({verdict})")
    if name in PEERLESS:
        t.notes.append(PEERLESS[name])
    t.notes += [f"skipped {k}: {why}" for k, why in skipped.items()]
    return t


def main(argv: list[str] | None = None) -> list[Table]:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=10)
    parser.add_argument("--sizes", default="256,1024", help="matrix sizes n (256,1024)")
    parser.add_argument("--only",
                        default="positive,spd,invertible,poincare_ball,birkhoff,symmetric,skew")
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    sizes = [16] if args.quick else [int(s) for s in args.sizes.split(",")]
    tables = [run(name, n, args.reps, args.warmup)
              for n in sizes for name in args.only.split(",")]
    tables[-1].notes.append(machine_info([1], "cpu"))
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
