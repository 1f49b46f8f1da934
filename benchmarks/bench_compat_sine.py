"""A sine-sequence LSTM: solvent.compat.cdopt against the real cdopt, one L-BFGS closure.

The model (CDOpt's documented sine-sequence setting) is two stacked
``LSTMCell_cdopt`` of 51 units on Stiefel and a linear head, float64, built by
``Sequence`` below from either package. Both start from the same weights; one timed
call is one L-BFGS closure (forward over the series, MSE + ``get_quad_penalty``,
backward). Each cell maps its weight at every time step in both libraries
(CDOpt's semantics).

    python benchmarks/bench_compat_sine.py [--quick] [--threads 1] [--reps 10]
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _harness import (  # noqa: E402 (after the path set-up above)
    Skip,
    Table,
    fmt_ms,
    fmt_ratio,
    make_parser,
    optional_import,
    resolve,
    time_interleaved,
    write_tables,
)

FULL = {"N": 100, "L": 300}
QUICK = {"N": 8, "L": 20}
HIDDEN = 51


class Sequence(torch.nn.Module):
    """Two stacked constrained LSTM cells and a linear read-out, stepped over the series."""

    def __init__(self, cd) -> None:
        super().__init__()
        stiefel, f64 = cd.manifold_torch.stiefel_torch, torch.float64
        self.cell1 = cd.nn.LSTMCell_cdopt(1, HIDDEN, manifold_class=stiefel, dtype=f64)
        self.cell2 = cd.nn.LSTMCell_cdopt(HIDDEN, HIDDEN, manifold_class=stiefel, dtype=f64)
        self.head = torch.nn.Linear(HIDDEN, 1, dtype=f64)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        n = series.shape[0]
        h1, c1, h2, c2 = (torch.zeros(n, HIDDEN, dtype=series.dtype) for _ in range(4))
        outputs = []
        for x in series.split(1, dim=1):
            h1, c1 = self.cell1(x, (h1, c1))
            h2, c2 = self.cell2(h1, (h2, c2))
            outputs.append(self.head(h2))
        return torch.cat(outputs, dim=1)


def package(name: str):
    """``solvent.compat.cdopt`` or the real ``cdopt`` (a Skip when it is not installed)."""
    if name == "cdopt":
        optional_import("cdopt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cd = importlib.import_module(name)
        importlib.import_module(f"{name}.nn")
        importlib.import_module(f"{name}.manifold_torch")
    return cd


def closure_for(cd, data: np.ndarray):
    torch.manual_seed(0)
    seq = Sequence(cd)
    x, y = torch.from_numpy(data[:, :-1]), torch.from_numpy(data[:, 1:])
    criterion = torch.nn.MSELoss()

    def closure() -> float:
        seq.zero_grad()
        loss = criterion(seq(x), y) + cd.nn.get_quad_penalty(seq)
        loss.backward()
        return loss.item()

    return closure


def main(argv: list[str] | None = None) -> list[Table]:
    args = resolve(make_parser(__doc__.splitlines()[0], threads="1", reps=10).parse_args(argv))
    sizes = QUICK if args.quick else FULL
    rng = np.random.RandomState(2)
    x = np.arange(sizes["L"]) + rng.randint(-80, 80, sizes["N"]).reshape(-1, 1)
    data = np.sin(x / 20.0)
    tables = []
    for threads in args.thread_list:
        torch.set_num_threads(threads)
        fns, skipped = {}, []
        for name in ("solvent.compat.cdopt", "cdopt"):
            try:
                fns[name] = closure_for(package(name), data)
            except Skip as why:
                skipped.append(f"{name}: {why}")
        losses = {name: fn() for name, fn in fns.items()}
        stats = time_interleaved(fns, reps=args.reps, warmup=args.warmup)
        ref = stats["solvent.compat.cdopt"].median
        t = Table(f"sine_sequence closure: N={sizes['N']}, L={sizes['L']}, {threads} thread(s)",
                  ["library", "median", "IQR (ms)", "x solvent", "loss"])  # fmt: skip
        for name, s in stats.items():
            t.rows.append([name, fmt_ms(s.median), s.spread(), fmt_ratio(s.median / ref),
                           f"{losses[name]:.12g}"])  # fmt: skip
        t.notes.extend(skipped)
        tables.append(t)
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
