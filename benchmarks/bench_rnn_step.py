"""Question 1: one RNN training step at the tutorial's shapes, solvent against every peer.

RNN 28 -> 150 (weight_hh_l0 on Stiefel), batch 64, 28 time steps, Adam, with
the penalty. Target: solvent within 1.03x of the floor (unconstrained step +
the dissolving map's own forward+backward) and faster than every peer, with
exactly one evaluation of the map per step.

    python benchmarks/bench_rnn_step.py [--quick] [--threads 1,2] [--device cuda]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import make_parser, resolve, write_tables  # noqa: E402
from _recurrent import run_recurrent  # noqa: E402

FULL = {"input": 28, "hidden": 150, "batch": 64, "steps": 28}
QUICK = {"input": 6, "hidden": 12, "batch": 8, "steps": 5}


def main(argv: list[str] | None = None) -> list:
    args = resolve(make_parser(__doc__.splitlines()[0]).parse_args(argv))
    sizes = QUICK if args.quick else FULL
    title = (f"Q1 RNN step: RNN {sizes['input']}->{sizes['hidden']}, batch {sizes['batch']}, "
             f"{sizes['steps']} steps, Adam + penalty")
    tables = run_recurrent("rnn", sizes, args, title)
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
