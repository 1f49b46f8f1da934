"""Question 2: one LSTM training step (hidden 256), each gate's h x h block on Stiefel.

solvent constrains the stacked ``weight_hh_l0`` (4h x h) gate by gate, as a
batch of four h x h points. The peers have no per-gate option: they constrain
the whole 4h x h matrix as one Stiefel point (CDOpt's LSTM_cdopt does so by
design; torch/geotorch orthogonal and geoopt's ManifoldParameter take the
tensor as given). Target as for the RNN: within 1.03x of the floor, faster
than every peer, one map evaluation per step.

    python benchmarks/bench_lstm_step.py [--quick] [--threads 1,2] [--device cuda]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import make_parser, resolve, write_tables  # noqa: E402
from _recurrent import run_recurrent  # noqa: E402

FULL = {"input": 28, "hidden": 256, "batch": 64, "steps": 28}
QUICK = {"input": 6, "hidden": 12, "batch": 8, "steps": 5}


def main(argv: list[str] | None = None) -> list:
    args = resolve(make_parser(__doc__.splitlines()[0]).parse_args(argv))
    sizes = QUICK if args.quick else FULL
    title = (f"Q2 LSTM step: LSTM {sizes['input']}->{sizes['hidden']} (per-gate Stiefel), "
             f"batch {sizes['batch']}, {sizes['steps']} steps, Adam + penalty")
    tables = run_recurrent("lstm", sizes, args, title)
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
