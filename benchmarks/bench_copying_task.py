"""The copying-memory model (an orthogonal RNN cell unrolled by hand): solvent against geotorch.

The model follows the shape of geotorch's copying-problem example, written
here from its description: a cell whose recurrent ``nn.Linear`` (hidden x
hidden, no bias) is orthogonal, an input ``nn.Linear``, a modReLU
non-linearity (``sign(z) * relu(|z| + b)``), a linear read-out at every time
step, and a parent module that runs the loop itself, calling the recurrent
Linear once per time step. The task: remember 10 symbols out of 8, then L
blanks, a marker, and reproduce the symbols (sequences of L + 20 steps).

A training step: one-hot inputs, the unrolled forward, cross-entropy over
every step, backward, RMSprop step. Contenders, same initial weights and
batch, interleaved in one process:

* unconstrained (the reference);
* geotorch ``orthogonal`` on the recurrent weight, inside torch's
  ``parametrize.cached()`` (as geotorch's example trains);
* solvent ``constrain(..., "stiefel")`` with ``solvent.penalty`` in the loss,
  inside ``solvent.cached()``: one map per sequence;
* solvent without the scope (one map per time step), for comparison.

Target: solvent with ``solvent.cached()`` no slower than geotorch at L = 30
and L = 100.

    python benchmarks/bench_copying_task.py [--quick] [--reps 30] [--threads 1]
"""

from __future__ import annotations

import contextlib
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _harness import (
    Table,
    build,
    fmt_ms,
    fmt_ratio,
    make_parser,
    optional_import,
    resolve,
    time_interleaved,
    write_tables,
)
from torch import nn
from torch.nn.utils import parametrize

import solvent

SYMBOLS, REMEMBER, BETA = 8, 10, 0.5
PLAIN, SOLVENT, SOLVENT_UNCACHED, GEOTORCH = (
    "unconstrained",
    "solvent + solvent.cached()",
    "solvent, no scope",
    "geotorch orthogonal + parametrize.cached()",
)


class ModReLU(nn.Module):
    """``sign(z) * relu(|z| + b)`` with a learnt bias per feature."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.empty(features).uniform_(-0.01, 0.01))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z) * torch.relu(z.abs() + self.b)


class Cell(nn.Module):
    """h' = modReLU(W_in x + W h): W is the weight to keep orthogonal."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.input_kernel = nn.Linear(inputs, hidden)
        self.recurrent_kernel = nn.Linear(hidden, hidden, bias=False)
        self.act = ModReLU(hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.input_kernel(x) + self.recurrent_kernel(h))


class CopyModel(nn.Module):
    """The cell unrolled by the parent, a read-out at every step."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.cell = Cell(SYMBOLS + 2, hidden)
        self.readout = nn.Linear(hidden, SYMBOLS + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, time, SYMBOLS + 2)
        h = x.new_zeros(x.shape[0], self.hidden)
        outs = []
        for x_t in x.unbind(1):
            h = self.cell(x_t, h)
            outs.append(self.readout(h))
        return torch.stack(outs, 1)


def copying_batch(batch: int, blanks: int, generator: torch.Generator):
    """(one-hot inputs, targets): 10 symbols, ``blanks`` blanks, a marker, 10 outputs."""
    digits = torch.randint(1, SYMBOLS + 1, (batch, REMEMBER), generator=generator)
    zeros = torch.zeros(batch, blanks, dtype=torch.long)
    marker = torch.full((batch, 1), SYMBOLS + 1)
    tail = torch.zeros(batch, REMEMBER - 1, dtype=torch.long)
    x = torch.cat([digits, zeros, marker, tail], 1)
    y = torch.cat([torch.zeros(batch, blanks + REMEMBER, dtype=torch.long), digits], 1)
    return nn.functional.one_hot(x, SYMBOLS + 2).float(), y


def _reference(hidden: int) -> CopyModel:
    torch.manual_seed(0)
    model = CopyModel(hidden)
    with torch.no_grad():
        W = model.cell.recurrent_kernel.weight
        W.copy_(torch.linalg.qr(torch.randn_like(W))[0])
    return model


def _stepper(model, x, y, extra=None, scope=None):
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with scope() if scope is not None else contextlib.nullcontext():
            out = model(x)
            loss = loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            if extra is not None:
                loss = loss + extra(model)
        loss.backward()
        opt.step()

    return step


def contenders(ref: CopyModel, x, y) -> dict:
    def plain():
        return _stepper(copy.deepcopy(ref), x, y)

    def solvent_step(scope):
        def builder():
            m = copy.deepcopy(ref)
            solvent.constrain(m.cell.recurrent_kernel, "weight", "stiefel", beta=BETA)
            return _stepper(m, x, y, solvent.penalty, scope)

        return builder

    def geotorch_step():
        gt = optional_import("geotorch")
        m = copy.deepcopy(ref)
        W = m.cell.recurrent_kernel.weight.detach().clone()
        gt.orthogonal(m.cell.recurrent_kernel, "weight")
        m.cell.recurrent_kernel.weight = W  # the same orthogonal start
        return _stepper(m, x, y, None, parametrize.cached)

    return {
        PLAIN: plain,
        SOLVENT: solvent_step(solvent.cached),
        GEOTORCH: geotorch_step,
        SOLVENT_UNCACHED: solvent_step(None),
    }


def run(blanks: int, hidden: int, batch: int, args) -> Table:
    ref = _reference(hidden)
    x, y = copying_batch(batch, blanks, torch.Generator().manual_seed(1))
    fns, skipped = build(contenders(ref, x, y), required=(PLAIN, SOLVENT))
    stats = time_interleaved(fns, reps=args.reps, warmup=args.warmup)
    sol = stats[SOLVENT].median
    t = Table(
        f"Copying task L = {blanks} ({blanks + 2 * REMEMBER} steps), hidden {hidden}, "
        f"batch {batch}, RMSprop; {torch.get_num_threads()} thread(s), "
        f"{args.reps} interleaved reps",
        ["contender", "median ms", "IQR ms", "÷ unconstrained", "÷ solvent + cached()"],
    )
    for name, s in stats.items():
        t.rows.append([name, fmt_ms(s.median), s.spread(),
                       fmt_ratio(s.median / stats[PLAIN].median),
                       fmt_ratio(s.median / sol)])  # fmt: skip
    if GEOTORCH in stats:
        ratio = sol / stats[GEOTORCH].median
        verdict = "met" if ratio <= 1.0 else "MISSED"
        t.notes.append(f"solvent + cached() ÷ geotorch = {ratio:.3f} (target <= 1: {verdict})")
    t.notes += [f"skipped {k}: {v}" for k, v in skipped.items()]
    return t


def main(argv: list[str] | None = None) -> list[Table]:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=30)
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(args.thread_list[0])
    sizes = [(3, 16, 8)] if args.quick else [(30, 190, 128), (100, 190, 128)]
    tables = [run(blanks, hidden, batch, args) for blanks, hidden, batch in sizes]
    write_tables(tables, args.markdown)
    return tables


if __name__ == "__main__":
    main()
