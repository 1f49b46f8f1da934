"""How far off its manifold the weight a constrained module sees ends, with and without the guard.

The runs where the pure penalty method drifts: ``nn.Linear(32, 32)`` on
Stiefel, Adam lr 1e-2, 300 steps of a regression loss, with beta 0.01, or
with beta 1 and the penalty left out of the loss; ``nn.LSTM(8, 16)`` trained
the same way without the penalty. Each is run with ``keep_feasible=True`` (the
default) and ``False`` over several seeds; the figure is ||C(W)|| of the
weight the module reads at the end (the worst gate block), mean +- sd, and the
worst over the second half of training.

    python benchmarks/feasibility_runs.py [--seeds 5] [--steps 300]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import nn

import solvent


def seen_violation(module: nn.Module, name: str) -> float:
    d = solvent.layers.dissolved_of(module)[name]
    W = getattr(module, name).detach()
    return float(d.manifold.violation(d.view.to_points(W)).max())


def run(case: str, keep: bool, seed: int, steps: int) -> tuple[float, float]:
    """(violation at the end, worst over the second half) for one run."""
    torch.manual_seed(seed)
    if case == "lstm, no penalty":
        module = solvent.constrain(nn.LSTM(8, 16), beta=1.0, keep_feasible=keep)
        name = "weight_hh_l0"
        x, y = torch.randn(10, 16, 8), torch.randn(16, 16)

        def loss_fn():
            return (module(x)[0][-1] - y).square().mean()
    else:
        beta = 0.01 if case == "linear, beta 0.01" else 1.0
        module, name = solvent.constrain(nn.Linear(32, 32), beta=beta, keep_feasible=keep), "weight"
        x, y = torch.randn(64, 32), torch.randn(64, 32)
        with_penalty = case == "linear, beta 0.01"

        def loss_fn():
            loss = (module(x) - y).square().mean()
            return loss + solvent.penalty(module) if with_penalty else loss

    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    worst = 0.0
    for i in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= steps // 2:
            worst = max(worst, seen_violation(module, name))
    return seen_violation(module, name), worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"| run | keep_feasible | end: mean ± sd ({args.seeds} seeds) | worst, 2nd half |")
    print("| --- | --- | --- | --- |")
    for case in ("linear, beta 0.01", "linear, no penalty", "lstm, no penalty"):
        for keep in (False, True):
            out = [run(case, keep, s, args.steps) for s in range(args.seeds)]
            ends = [e for e, _ in out]
            sd = statistics.stdev(ends) if len(ends) > 1 else 0.0
            print(f"| {case} | {keep} | {statistics.mean(ends):.3g} ± {sd:.2g} | "
                  f"{max(w for _, w in out):.3g} |")  # fmt: skip


if __name__ == "__main__":
    main()
