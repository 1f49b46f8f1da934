"""The factor maps at layer sizes: fixed_rank, psd_fixed_rank, elliptope beside geotorch.

One forward and backward of the map at n x n (256 and 1024, rank n/16),
float32, CPU, every contender interleaved in one process: the free variable
goes through the map to the weight W, and ``(W * G).sum()`` is
back-propagated to the free variable. Contenders:

* solvent: the hot path a constrained layer calls (the ``_dissolve`` hook);
* the same formula in plain torch ops (``U @ V.T``, ``Y @ Y.T``, normalised rows):
  the floor;
* geotorch 0.4.0 (as its docs use it: ``geotorch.fixed_rank(layer, "weight", k)``,
  ``positive_semidefinite_fixed_rank``, default ``triv="expm"``, and ``triv="cayley"``),
  reading ``layer.weight``. geotorch's maps keep the rank exactly k, as ours do.
  geoopt has no fixed-rank, PSD fixed-rank or elliptope manifold, and no peer has
  an elliptope map in torch; pymanopt's are NumPy (see bench_pymanopt_factor_examples).

Every map is exact (its image is in the set for every free variable), so the
comparison is at equal exactness. Target: solvent no slower than the fastest peer.

A second table prices fixed_rank's two free-variable stores (Note [fixed rank
storage]): the factors packed in an m x n free variable (the default) and the
compact [U; V] ((m + n) x k, ``rows=m``): one training step, map forward +
backward + Adam update.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_maps_factor.py [--quick]
        [--only maps|storage]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _harness import (  # noqa: E402
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
from torch import nn  # noqa: E402

import solvent  # noqa: E402

SOLVENT, PLAIN = "solvent (hot path)", "plain torch formula (floor)"
GEOTORCH = {"fixed_rank": "fixed_rank", "psd_fixed_rank": "positive_semidefinite_fixed_rank"}
PLAIN_MAPS = {
    "fixed_rank": lambda U, V: U @ V.mT,
    "psd_fixed_rank": lambda Y: Y @ Y.mT,
    "elliptope": lambda Y: (lambda W: W @ W.mT)(Y / Y.norm(dim=-1, keepdim=True)),
}


def _step(weight, G: torch.Tensor, params: list[torch.Tensor]):
    """One forward and backward through a weight-producing callable."""

    def run():
        for p in params:
            p.grad = None
        (weight() * G).sum().backward()

    return run


def _solvent(name: str, n: int, k: int, G: torch.Tensor):
    M = solvent.manifold(name, rank=k)
    X = M.random(n, n, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    Z = nn.Parameter(M.lift(X))
    return _step(lambda: M._dissolve(Z), G, [Z])


def _plain(name: str, n: int, k: int, G: torch.Tensor):
    g = torch.Generator().manual_seed(0)
    if name == "fixed_rank":
        U = nn.Parameter(torch.randn(n, k, generator=g))
        V = nn.Parameter(torch.randn(n, k, generator=g))
        return _step(lambda: PLAIN_MAPS[name](U, V), G, [U, V])
    Y = nn.Parameter(torch.randn(n, k, generator=g))
    return _step(lambda: PLAIN_MAPS[name](Y), G, [Y])


def _geotorch(name: str, n: int, k: int, G: torch.Tensor, triv: str):
    geotorch = optional_import("geotorch")
    layer = nn.Linear(n, n, bias=False)
    getattr(geotorch, GEOTORCH[name])(layer, "weight", k, triv=triv)
    return _step(lambda: layer.weight, G, list(layer.parameters()))


def contenders(name: str, n: int, k: int) -> dict:
    G = torch.randn(n, n, generator=torch.Generator().manual_seed(1))
    out = {
        SOLVENT: lambda: _solvent(name, n, k, G),
        PLAIN: lambda: _plain(name, n, k, G),
    }
    if name in GEOTORCH:
        for triv in ("expm", "cayley"):
            out[f"geotorch {GEOTORCH[name]} (triv={triv})"] = (
                lambda triv=triv: _geotorch(name, n, k, G, triv)
            )
    return out


def table_for(name: str, sizes, args) -> Table:
    t = Table(
        f"{name}: map forward + backward, float32, 1 thread",
        ["n x n, rank k", "contender", "median ms", "IQR ms", "÷ solvent"],
    )
    for n, k in sizes:
        fns, skipped = build(contenders(name, n, k), required=(SOLVENT, PLAIN))
        reps = max(3, args.reps if n <= 256 else args.reps // 2)
        stats = time_interleaved(fns, reps=reps, warmup=args.warmup)
        sol = stats[SOLVENT].median
        peers = [s.median for c, s in stats.items() if c.startswith("geotorch")]
        for c, s in stats.items():
            t.rows.append([f"{n} x {n}, k={k}", c, fmt_ms(s.median), s.spread(),
                           fmt_ratio(s.median / sol)])
        if peers:
            t.notes.append(f"{n} x {n}: fastest peer ÷ solvent = **{min(peers) / sol:.2f}x** "
                           f"({reps} interleaved repetitions)")
        t.notes += [f"{n} x {n}: skipped {c}: {why}" for c, why in skipped.items()]
    return t


def _adam_step(weight, G: torch.Tensor, params: list[torch.Tensor]):
    opt = torch.optim.Adam(params, lr=1e-3)
    step = _step(weight, G, params)

    def run():
        step()
        opt.step()

    return run


def storage_table(sizes, args) -> Table:
    t = Table(
        "fixed_rank storage: map forward + backward + Adam step, float32, 1 thread",
        ["m x n, rank k", "free variable", "numbers stored", "median ms", "IQR ms", "÷ packed"],
    )
    for n, k in sizes:
        G = torch.randn(n, n, generator=torch.Generator().manual_seed(1))
        X = solvent.manifold("fixed_rank", rank=k).random(
            n, n, generator=torch.Generator().manual_seed(0))
        P = solvent.manifold("fixed_rank", rank=k)
        C = solvent.manifold("fixed_rank", rank=k, rows=n)
        Z, UV = nn.Parameter(P.lift(X)), nn.Parameter(C.lift(X))
        fns = {
            "packed m x n (default)": _adam_step(lambda: P._dissolve(Z), G, [Z]),
            "compact (m + n) x k (rows=m)": _adam_step(lambda: C._dissolve(UV), G, [UV]),
        }
        reps = max(3, args.reps if n <= 256 else args.reps // 2)
        stats = time_interleaved(fns, reps=reps, warmup=args.warmup)
        base = stats["packed m x n (default)"].median
        for (c, s), numel in zip(stats.items(), (Z.numel(), UV.numel())):
            t.rows.append([f"{n} x {n}, k={k}", c, str(numel), fmt_ms(s.median), s.spread(),
                           fmt_ratio(s.median / base)])
    return t


def main(argv=None) -> list[Table]:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=30)
    parser.add_argument("--only", choices=("maps", "storage"), default=None)
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(args.thread_list[0])
    sizes = [(32, 4)] if args.quick else [(256, 16), (1024, 64)]
    tables = []
    if args.only in (None, "maps"):
        tables += [table_for(name, sizes, args) for name in PLAIN_MAPS]
    if args.only in (None, "storage"):
        tables.append(storage_table(sizes, args))
    tables[-1].notes.append(machine_info(args.thread_list, args.device))
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
