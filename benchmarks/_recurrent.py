"""One training step of a recurrent classifier, orthogonal hidden-to-hidden weight, every library.

Shared by ``bench_rnn_step.py`` (nn.RNN) and ``bench_lstm_step.py`` (nn.LSTM,
four gates stacked in ``weight_hh_l0``). A step is: zero the gradients, run the
sequence, cross-entropy on the last output (plus the library's penalty where it
has one), backward, optimizer step. Every contender starts from the same
weights (one seeded model, its hidden-to-hidden gates made orthogonal), sees
the same batch and uses Adam with the same learning rate.

The floor is what no implementation of the dissolving approach can beat: the
unconstrained step plus the dissolving map's own forward+backward (with the
penalty, which shares C(X) with A(X)), timed alone on the same weight.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from _harness import (
    Skip,
    Table,
    build,
    count_dissolves,
    floor_table,
    optional_import,
    time_interleaved,
)
from torch import nn
from torch.nn.utils import parametrize

import solvent

__all__ = ["run_recurrent"]

BETA = 0.2
LR = 1e-3
PLAIN, SOLVENT, MAP = "torch (unconstrained)", "solvent", "dissolving map alone (fwd+bwd)"


class Classifier(nn.Module):
    """A recurrent layer then a linear read-out of the last time step."""

    def __init__(self, rnn: nn.Module, hidden: int, classes: int = 10) -> None:
        super().__init__()
        self.rnn, self.fc = rnn, nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.rnn(x)[0][-1])


def _reference(cell: str, sizes: dict, device: torch.device) -> Classifier:
    torch.manual_seed(0)
    rnn = (nn.RNN if cell == "rnn" else nn.LSTM)(sizes["input"], sizes["hidden"])
    h = sizes["hidden"]
    with torch.no_grad():  # orthogonal gates: every contender starts on the manifold
        W = rnn.weight_hh_l0.view(-1, h, h)
        W.copy_(torch.linalg.qr(torch.randn_like(W))[0])
    return Classifier(rnn, h).to(device)


def _stepper(model: nn.Module, x, y, opt, extra: Callable[[], torch.Tensor] | None, ctx=None):
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if ctx is None:
            loss = loss_fn(model(x), y)
        else:
            with ctx():
                loss = loss_fn(model(x), y)
        if extra is not None:
            loss = loss + extra()
        loss.backward()
        opt.step()

    return step


def _builders(cell: str, ref: Classifier, x, y, counter_box: dict) -> dict[str, Callable]:
    h = ref.rnn.hidden_size
    gates = ref.rnn.weight_hh_l0.shape[0] // h

    def adam(model):
        return torch.optim.Adam(model.parameters(), lr=LR)

    def plain():
        m = copy.deepcopy(ref)
        return _stepper(m, x, y, adam(m), None)

    def solvent_step():
        m = copy.deepcopy(ref)
        M = solvent.manifold("stiefel")
        counter_box["counter"] = count_dissolves(M)
        solvent.constrain(m.rnn, "weight_hh_l0", M, beta=BETA)
        return _stepper(m, x, y, adam(m), lambda: solvent.penalty(m))

    def map_alone():
        M = solvent.manifold("stiefel")
        W = ref.rnn.weight_hh_l0.detach()
        X = (W if gates == 1 else W.reshape(gates, h, h)).clone().requires_grad_(True)
        G = torch.randn_like(X)

        def step() -> None:
            X.grad = None
            A, C = M.dissolve_with_constraint(X)
            ((A * G).sum() + BETA * M.penalty_from_constraint(C)).backward()

        return step

    def cdopt():
        cdnn = optional_import("cdopt.nn")
        stiefel = optional_import("cdopt.manifold_torch").stiefel_torch
        cls = cdnn.RNN_cdopt if cell == "rnn" else cdnn.LSTM_cdopt
        # CDOpt's penalty is penalty_param * ||C||^2 (no 1/2): beta / 2 is the same function.
        rnn = cls(ref.rnn.input_size, h, manifold_class=stiefel, penalty_param=BETA / 2)
        m = Classifier(rnn, h).to(x.device)
        missing = m.load_state_dict(ref.state_dict(), strict=False).missing_keys
        if missing:
            raise Skip(f"CDOpt module has no {missing}")
        rnn.flatten_parameters()
        return _stepper(m, x, y, adam(m), lambda: cdnn.get_quad_penalty(m))

    def torch_orth(kind: str, cached: bool):
        def builder():
            m = copy.deepcopy(ref)
            nn.utils.parametrizations.orthogonal(m.rnn, "weight_hh_l0", orthogonal_map=kind)
            return _stepper(m, x, y, adam(m), None, parametrize.cached if cached else None)

        return builder

    def geotorch_orth():
        gt = optional_import("geotorch")
        m = copy.deepcopy(ref)
        W = m.rnn.weight_hh_l0.detach().clone()
        if gates > 1:  # geotorch takes the stacked 4h x h weight as one Stiefel point
            W = solvent.manifold("stiefel").project(W)
        gt.orthogonal(m.rnn, "weight_hh_l0")
        m.rnn.weight_hh_l0 = W
        return _stepper(m, x, y, adam(m), None, parametrize.cached)

    def geoopt_adam():
        go = optional_import("geoopt")
        m = copy.deepcopy(ref)
        m.rnn.weight_hh_l0 = go.ManifoldParameter(m.rnn.weight_hh_l0.detach().clone(),
                                                  manifold=go.Stiefel())
        opt = go.optim.RiemannianAdam(m.parameters(), lr=LR)
        return _stepper(m, x, y, opt, None)

    builders = {
        PLAIN: plain, SOLVENT: solvent_step, MAP: map_alone,
        "CDOpt RNN_cdopt" if cell == "rnn" else "CDOpt LSTM_cdopt": cdopt,
        "torch orthogonal (cayley)": torch_orth("cayley", False),
        "torch orthogonal (cayley, cached)": torch_orth("cayley", True),
        "torch orthogonal (matrix_exp)": torch_orth("matrix_exp", False),
        "torch orthogonal (matrix_exp, cached)": torch_orth("matrix_exp", True),
        "geotorch orthogonal (cached)": geotorch_orth,
        "geoopt ManifoldParameter + RiemannianAdam": geoopt_adam,
    }
    if gates > 1 and h > 64:
        # On a 4h x h weight torch's orthogonal works with a 4h x 4h skew matrix: its
        # uncached and matrix_exp variants take seconds per step here (Q1 shows them).
        for name in ("torch orthogonal (cayley)", "torch orthogonal (matrix_exp)",
                     "torch orthogonal (matrix_exp, cached)"):
            del builders[name]
    return builders


def run_recurrent(cell: str, sizes: dict, args, title: str) -> list[Table]:
    """Time every contender at each thread count; one table per thread count."""
    device = torch.device(args.device)
    ref = _reference(cell, sizes, device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(sizes["steps"], sizes["batch"], sizes["input"], generator=g).to(device)
    y = torch.randint(0, 10, (sizes["batch"],), generator=g).to(device)
    box: dict = {}
    fns, skipped = build(_builders(cell, ref, x, y, box), required=(PLAIN, SOLVENT, MAP))
    counter = box["counter"]
    counter.reset()
    fns[SOLVENT]()
    evaluations = counter.count
    tables = []
    for threads in args.thread_list:
        torch.set_num_threads(threads)
        stats = time_interleaved(fns, reps=args.reps, warmup=args.warmup, device=device)
        tables.append(_table(title, threads, stats, skipped, evaluations, args))
    return tables


def _table(title, threads, stats, skipped, evaluations, args) -> Table:
    floor = stats[PLAIN].median + stats[MAP].median
    sol = stats[SOLVENT].median
    t = floor_table(f"{title} — {threads} thread(s), {args.device}", stats, floor,
                    "unconstrained + map alone", sol)
    peers = {n: s.median for n, s in stats.items() if n not in (PLAIN, SOLVENT, MAP)}
    slowest_ok = all(sol < v for v in peers.values())
    t.notes.append(f"{args.reps} interleaved repetitions after {args.warmup} warm-up; "
                   f"dissolving-map evaluations per solvent step: **{evaluations}** (target 1)")
    t.notes.append(f"solvent ÷ floor = {sol / floor:.3f} (target ≤ 1.03: "
                   f"{'met' if sol / floor <= 1.03 else 'MISSED'}); faster than every peer "
                   f"timed: {'yes' if slowest_ok else 'NO'}")
    t.notes += [f"skipped {n}: {why}" for n, why in skipped.items()]
    return t
