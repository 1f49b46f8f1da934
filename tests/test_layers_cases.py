"""Shared cases for the layer tests: a module factory, an input factory and an output picker."""

from __future__ import annotations

import torch
from torch import nn

from solvent.manifolds.stiefel import Stiefel


def _x(*shape):
    return lambda dtype: torch.randn(*shape, dtype=dtype)


# name -> (module factory, input factory taking a dtype, returns a tuple of args)
CASES = {
    "linear": (lambda: nn.Linear(6, 4), lambda d: (torch.randn(3, 6, dtype=d),)),
    "linear_tall": (lambda: nn.Linear(3, 7), lambda d: (torch.randn(3, 3, dtype=d),)),
    "bilinear": (
        lambda: nn.Bilinear(3, 4, 5),
        lambda d: (torch.randn(2, 3, dtype=d), torch.randn(2, 4, dtype=d)),
    ),
    "conv1d": (lambda: nn.Conv1d(4, 6, 3), lambda d: (torch.randn(2, 4, 7, dtype=d),)),
    "conv2d_grouped": (
        lambda: nn.Conv2d(4, 6, 3, groups=2),
        lambda d: (torch.randn(2, 4, 5, 5, dtype=d),),
    ),
    "conv2d_1x1": (lambda: nn.Conv2d(12, 3, 1), lambda d: (torch.randn(1, 12, 3, 3, dtype=d),)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2), lambda d: (torch.randn(1, 2, 3, 3, 3, dtype=d),)),
    "convT1d": (lambda: nn.ConvTranspose1d(4, 3, 3), lambda d: (torch.randn(2, 4, 5, dtype=d),)),
    "convT2d_grouped": (
        lambda: nn.ConvTranspose2d(4, 6, 2, groups=2),
        lambda d: (torch.randn(2, 4, 3, 3, dtype=d),),
    ),
    "convT3d": (
        lambda: nn.ConvTranspose3d(2, 3, 2),
        lambda d: (torch.randn(1, 2, 2, 2, 2, dtype=d),),
    ),
    "embedding": (lambda: nn.Embedding(10, 4), lambda d: (torch.tensor([[1, 2, 9], [0, 3, 3]]),)),
    "rnn": (
        lambda: nn.RNN(3, 5, num_layers=2, bidirectional=True, batch_first=True),
        lambda d: (torch.randn(2, 4, 3, dtype=d),),
    ),
    "lstm": (
        lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True),
        lambda d: (torch.randn(4, 2, 3, dtype=d),),
    ),
    "lstm_proj": (lambda: nn.LSTM(3, 6, proj_size=2), lambda d: (torch.randn(4, 2, 3, dtype=d),)),
    "gru": (lambda: nn.GRU(3, 5, batch_first=True), lambda d: (torch.randn(2, 4, 3, dtype=d),)),
    "rnncell": (lambda: nn.RNNCell(3, 5), lambda d: (torch.randn(2, 3, dtype=d),)),
    "lstmcell": (lambda: nn.LSTMCell(3, 5), lambda d: (torch.randn(2, 3, dtype=d),)),
    "grucell": (lambda: nn.GRUCell(3, 5), lambda d: (torch.randn(2, 3, dtype=d),)),
    "mha": (
        lambda: nn.MultiheadAttention(6, 2),
        lambda d: tuple(torch.randn(4, 2, 6, dtype=d) for _ in range(3)),
    ),
}


def first_tensor(out):
    """The first tensor of a module's output (RNNs and attention return tuples)."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def build(case: str, dtype: torch.dtype, seed: int = 0):
    """(module in dtype, its input args) for a case, seeded."""
    torch.manual_seed(seed)
    make, inputs = CASES[case]
    return make().to(dtype), inputs(dtype)


class CountingStiefel(Stiefel):
    """Stiefel that counts evaluations of A (dissolve or dissolve_with_constraint) and of C."""

    def __init__(self) -> None:
        self.maps = 0
        self.constraints = 0

    def _dissolve_with_constraint(self, X):
        self.maps += 1
        return super()._dissolve_with_constraint(X)

    def _dissolve(self, X):
        self.maps += 1
        return super()._dissolve(X)

    def _constraint(self, X):
        self.constraints += 1
        return super()._constraint(X)

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__


def test_every_case_runs_unconstrained():
    """The cases themselves are sound: each plain module takes its input."""
    for case in CASES:
        module, args = build(case, torch.float64)
        assert torch.isfinite(first_tensor(module(*args))).all(), case
