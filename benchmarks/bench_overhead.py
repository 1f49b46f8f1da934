"""Plumbing overhead: what a constrained step costs beyond the dissolving maths, at a tiny size.

At n = 16 the map's arithmetic is nearly free, so what is left is per-call
overhead: validation, allocation, hooks, torch's parametrize machinery. Two
questions, both on CPU with one thread, every contender interleaved:

1. The map alone (Stiefel 16 x 16, A(X) and C(X) forward, penalty, backward):
   solvent's hot path (the protected hook the layers call) and its public,
   validating method, against the same formulas written in plain torch ops.
   Target: hot path <= 1.10x plain.
2. A training step of nn.RNN(8, 16) + a linear head (batch 8, 10 time steps,
   Adam, penalty): the extra time of a constrained step over the unconstrained
   one, in units of the plain map's own time. Contenders: solvent (with its
   feasibility guard, the default, and without it: ``keep_feasible=False``),
   CDOpt's RNN_cdopt (when installed), and a bare torch
   ``register_parametrization`` of the same formulas inside
   ``parametrize.cached()`` with a separate penalty. Target: solvent <= 1.3x.

    python benchmarks/bench_overhead.py [--quick] [--reps 200]
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _harness import (
    Skip,
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
from _recurrent import _stepper
from torch import nn
from torch.nn.utils import parametrize

import solvent

N, IN, BATCH, STEPS, BETA, LR = 16, 8, 8, 10, 0.2, 1e-3
PLAIN_MAP, HOOK_MAP, PUBLIC_MAP = (
    "plain torch ops",
    "solvent hot path (hook)",
    "solvent public method (validates)",
)
PLAIN_STEP, SOLVENT_STEP = "unconstrained nn.RNN", "solvent.constrain"
SOLVENT_PURE = "solvent.constrain(keep_feasible=False)"


def _plain_formulas(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    C = X.mT @ X - torch.eye(X.shape[-1], dtype=X.dtype)
    return X - 0.5 * (X @ C), C


def map_contenders() -> dict:
    torch.manual_seed(0)
    X = torch.linalg.qr(torch.randn(N, N))[0].add_(1e-3).requires_grad_(True)
    R = torch.randn(N, N)
    M = solvent.manifold("stiefel")

    def make(fn):
        def step() -> None:
            X.grad = None
            A, C = fn(X)
            ((A * R).sum() + BETA * 0.5 * C.square().sum()).backward()

        return lambda: step

    return {
        PLAIN_MAP: make(_plain_formulas),
        HOOK_MAP: make(M._dissolve_with_constraint),
        PUBLIC_MAP: make(M.dissolve_with_constraint),
    }


class Classifier(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn, self.fc = rnn, nn.Linear(N, 10)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][-1])


class _PlainStiefel(nn.Module):
    """The same formulas as a bare torch parametrization (the penalty computed separately)."""

    def forward(self, X):
        return _plain_formulas(X)[0]


def step_contenders() -> dict:
    torch.manual_seed(0)
    ref = Classifier(nn.RNN(IN, N))
    with torch.no_grad():
        ref.rnn.weight_hh_l0.copy_(torch.linalg.qr(torch.randn(N, N))[0])
    g = torch.Generator().manual_seed(1)
    x = torch.randn(STEPS, BATCH, IN, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)

    def stepper(m, extra=None, ctx=None):
        opt = torch.optim.Adam(m.parameters(), lr=LR)
        return _stepper(m, x, y, opt, None if extra is None else (lambda: extra(m)), ctx)

    def plain():
        return stepper(copy.deepcopy(ref))

    def solvent_step(keep: bool = True):
        def builder():
            m = copy.deepcopy(ref)
            solvent.constrain(m.rnn, "weight_hh_l0", "stiefel", beta=BETA, keep_feasible=keep)
            return stepper(m, solvent.penalty)

        return builder

    def bare_parametrize():
        m = copy.deepcopy(ref)
        parametrize.register_parametrization(m.rnn, "weight_hh_l0", _PlainStiefel())

        def pen(model):
            X = model.rnn.parametrizations.weight_hh_l0.original
            C = X.mT @ X - torch.eye(N)
            return BETA * 0.5 * C.square().sum()

        return stepper(m, pen, parametrize.cached)

    def cdopt():
        cdnn = optional_import("cdopt.nn")
        stiefel = optional_import("cdopt.manifold_torch").stiefel_torch
        rnn = cdnn.RNN_cdopt(IN, N, manifold_class=stiefel, penalty_param=BETA / 2)
        m = Classifier(rnn)
        missing = m.load_state_dict(ref.state_dict(), strict=False).missing_keys
        if missing:
            raise Skip(f"CDOpt module has no {missing}")
        return stepper(m, cdnn.get_quad_penalty)

    return {
        PLAIN_STEP: plain,
        SOLVENT_STEP: solvent_step(),
        SOLVENT_PURE: solvent_step(keep=False),
        "CDOpt RNN_cdopt": cdopt,
        "torch register_parametrization + cached()": bare_parametrize,
    }


def main(argv: list[str] | None = None) -> list[Table]:
    parser = make_parser(__doc__.splitlines()[0], threads="1", reps=400)
    args = resolve(parser.parse_args(argv))
    torch.set_num_threads(1)
    reps = 20 if args.quick else args.reps
    maps, _ = build(map_contenders(), required=list(map_contenders()))
    steps, skipped = build(step_contenders(), required=(PLAIN_STEP, SOLVENT_STEP))
    stats = time_interleaved({**maps, **steps}, reps=reps, warmup=args.warmup)
    base = stats[PLAIN_MAP].median
    t1 = Table(
        f"Stiefel {N}x{N} map + penalty, forward+backward, 1 thread, {reps} interleaved reps",
        ["contender", "median", "IQR", "x plain ops"],
    )
    for name in maps:
        s = stats[name]
        t1.rows.append([name, fmt_ms(s.median), s.spread(), fmt_ratio(s.median / base)])
    t1.notes.append("Target: hot path <= 1.10x plain torch ops.")
    t2 = Table(
        f"RNN({IN}, {N}) + Linear step, batch {BATCH}, {STEPS} steps, Adam + penalty, 1 thread",
        ["contender", "median", "IQR", "min", "extra over unconstrained, in plain-map units",
         "the same from the minima"],
    )
    plain, fastest = stats[PLAIN_STEP], stats[PLAIN_MAP].min
    for name in steps:
        s = stats[name]
        extra = "-" if name == PLAIN_STEP else fmt_ratio((s.median - plain.median) / base)
        least = "-" if name == PLAIN_STEP else fmt_ratio((s.min - plain.min) / fastest)
        t2.rows.append([name, fmt_ms(s.median), s.spread(), fmt_ms(s.min), extra, least])
    t2.notes.append("Target: solvent <= 1.3x.")
    t2.notes.append(
        "The minima are the least disturbed repetitions: on a loaded machine other "
        "processes only ever add time, so their ratio is the steadier one."
    )
    t2.notes += [f"skipped {k}: {v}" for k, v in skipped.items()]
    write_tables([t1, t2], args.markdown)
    return [t1, t2]


if __name__ == "__main__":
    main()
