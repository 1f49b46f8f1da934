"""CDOpt's sine-sequence example: solvent.compat.cdopt against the real cdopt, one L-BFGS closure.

The model is the example's ``Sequence`` (two ``LSTMCell_cdopt(…, 51)`` on
Stiefel, a linear head, float64), taken from ``tests/cdopt_examples/sine_sequence.py``;
for cdopt the same file is run with the substitution undone. Both start from
the same weights; one timed call is one closure of the example's L-BFGS
(forward over the series, MSE + ``get_quad_penalty``, backward). Each cell maps
its weight at every time step in both libraries (CDOpt's semantics).

    python benchmarks/bench_compat_sine.py [--quick] [--threads 1] [--reps 10]
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _harness import (
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
EXAMPLE = ROOT / "tests" / "cdopt_examples" / "sine_sequence.py"


def example_module(package: str) -> types.ModuleType:
    """The example with ``solvent.compat.cdopt`` spelled ``package``."""
    if package == "cdopt":
        optional_import("cdopt")
    src = EXAMPLE.read_text().replace("solvent.compat.cdopt", package)
    module = types.ModuleType(f"sine_{package.replace('.', '_')}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(src, str(EXAMPLE), "exec"), module.__dict__)  # noqa: S102
    return module


def closure_for(module: types.ModuleType, data: np.ndarray):
    torch.manual_seed(0)
    seq = module.Sequence().double()
    x, y = torch.from_numpy(data[:, :-1]), torch.from_numpy(data[:, 1:])
    criterion = torch.nn.MSELoss()

    def closure() -> float:
        seq.zero_grad()
        loss = criterion(seq(x), y) + module.get_quad_penalty(seq)
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
                fns[name] = closure_for(example_module(name), data)
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
