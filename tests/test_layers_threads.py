"""Several threads running forward on one constrained module each get exactly the serial result.

Each forward's A(X) lives in a frame of the calling thread (Note [frames] in
solvent.layers.handover); a recurrent module's weight cache is never written
by a forward (Note [recurrent weight cache] in solvent.layers.recurrent).
"""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import solvent
from tests.test_layers_cases import first_tensor

THREADS, CALLS, INPUTS = 8, 50, 4  # the mechanism before frames failed this (LSTM)

MODULES = {
    "rnn": (lambda: nn.RNN(3, 5, num_layers=2, bidirectional=True), (6, 2, 3)),
    "lstm": (lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True), (6, 2, 3)),
    "gru": (lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True), (6, 2, 3)),
    "linear": (lambda: nn.Linear(6, 4), (3, 6)),
    "mha": (lambda: nn.MultiheadAttention(6, 2), (4, 2, 6)),
}


def _call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.MultiheadAttention):
        return module(x, x, x)[0]
    return first_tensor(module(x))


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_threaded_forwards_equal_the_serial_ones(kind, grad):
    torch.manual_seed(0)
    make, shape = MODULES[kind]
    module = solvent.constrain(make().double(), beta=0.5)
    with torch.no_grad():  # off the manifold, so A(X) != X and a leaked X shows
        for _, _, X in solvent.layers.constraints(module):
            X.add_(1e-3 * torch.randn_like(X))
    xs = [torch.randn(*shape, dtype=torch.float64) for _ in range(INPUTS)]
    with torch.set_grad_enabled(grad):
        serial = [_call(module, x).detach() for x in xs]
    errors: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        start.wait()
        with torch.set_grad_enabled(grad):
            for i in range(CALLS):
                j = (t + i) % INPUTS
                out = _call(module, xs[j]).detach()
                if not torch.equal(out, serial[j]):
                    errors.append(f"thread {t} call {i}: max error {(out - serial[j]).abs().max()}")
                    return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    if hasattr(module, "_flat_weights_names"):  # the shared cache holds X, never an A
        params = dict(module.named_parameters())
        for name, w in zip(module._flat_weights_names, module._flat_weights, strict=True):
            assert w is params[name], name


def test_a_module_that_calls_itself_gets_a_frame_per_call():
    """Re-entrant: a forward that runs the same module again (a recursive network)."""

    class Twice(nn.Linear):
        def forward(self, x, depth=1):
            y = super().forward(x)
            return self.forward(y, depth - 1) if depth else y

    torch.manual_seed(0)
    m = solvent.constrain(Twice(4, 4).double())
    x = torch.randn(2, 4, dtype=torch.float64)
    W = m.weight.detach()
    torch.testing.assert_close(m(x, depth=2), x @ W.T @ W.T @ W.T + m.bias @ W.T @ W.T
                               + m.bias @ W.T + m.bias)  # fmt: skip
    assert not solvent.layers.handover._here.frames  # every frame was popped
