"""CDOpt code runs by changing its imports: names, semantics, and the real CDOpt RNN tutorial."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn as nn
import torch.optim as optim

import solvent
from solvent.compat import cdopt
from solvent.compat.cdopt import (
    RNN_cdopt,
    get_constraint_violation,
    get_quad_penalty,
    stiefel_torch,
)

LAYERS = [
    ("Linear_cdopt", (6, 4), (3, 6)),
    ("Bilinear_cdopt", (3, 4, 5), None),
    ("Conv1d_cdopt", (4, 6, 3), (2, 4, 7)),
    ("Conv2d_cdopt", (64, 8, 1), (1, 64, 2, 2)),
    ("Conv3d_cdopt", (2, 3, 2), (1, 2, 3, 3, 3)),
    ("ConvTranspose1d_cdopt", (4, 3, 3), (2, 4, 5)),
    ("ConvTranspose2d_cdopt", (4, 6, 2), (2, 4, 3, 3)),
    ("ConvTranspose3d_cdopt", (2, 3, 2), (1, 2, 2, 2, 2)),
    ("RNN_cdopt", (3, 5), (4, 2, 3)),
    ("LSTM_cdopt", (3, 5), (4, 2, 3)),
    ("GRU_cdopt", (3, 5), (4, 2, 3)),
    ("RNNCell_cdopt", (3, 5), (2, 3)),
    ("LSTMCell_cdopt", (3, 5), (2, 3)),
    ("GRUCell_cdopt", (3, 5), (2, 3)),
]


@pytest.mark.parametrize("name, args, xshape", LAYERS, ids=[c[0] for c in LAYERS])
def test_cdopt_layers_constrain_the_torch_layer(name, args, xshape):
    torch.manual_seed(0)
    layer = getattr(cdopt, name)(*args, manifold_class=stiefel_torch, penalty_param=0.3)
    base = getattr(nn, name.removesuffix("_cdopt"))
    assert isinstance(layer, base) and solvent.is_constrained(layer)
    assert layer.penalty_param == 0.3
    assert all(d.beta == pytest.approx(0.6) for _, d, _ in solvent.layers.constraints(layer))
    xs = (torch.randn(2, 3), torch.randn(2, 4)) if xshape is None else (torch.randn(*xshape),)
    out = layer(*xs)
    out = out[0] if isinstance(out, tuple) else out
    loss = out.square().sum() + get_quad_penalty(layer)
    loss.backward()
    assert float(get_constraint_violation(layer)) < 1e-8


def test_quad_penalty_is_lambda_times_squared_norm():
    torch.manual_seed(0)
    fc = cdopt.Linear_cdopt(3, 5, manifold_class=stiefel_torch, penalty_param=0.25).double()
    with torch.no_grad():
        fc.weight.mul_(1.2)
    X = fc.weight
    C = X.T @ X - torch.eye(3, dtype=torch.float64)
    sq = C.square().sum()
    torch.testing.assert_close(get_quad_penalty(fc), 0.25 * sq)
    torch.testing.assert_close(fc.quad_penalty(), sq)
    torch.testing.assert_close(get_constraint_violation(fc), sq)
    assert fc.manifold.name == "stiefel"


def test_defaults_and_manifold_classes():
    fc = cdopt.Linear_cdopt(4, 3)  # CDOpt's default: Euclidean, penalty 0
    assert fc.manifold.name == "euclidean" and float(get_quad_penalty(fc)) == 0.0
    names = {
        "euclidean_torch": "euclidean", "stiefel_torch": "stiefel", "sphere_torch": "sphere",
        "oblique_torch": "oblique", "grassmann_torch": "grassmann",
        "generalized_stiefel_torch": "generalized_stiefel", "hyperbolic_torch": "hyperbolic",
        "symp_stiefel_torch": "symplectic_stiefel",
    }  # fmt: skip
    for cdopt_name, solvent_name in names.items():
        assert getattr(cdopt.manifold_torch, cdopt_name).solvent_name == solvent_name
    St = cdopt.stiefel_torch((5, 2), dtype=torch.float64)
    X = St.Init_point()
    torch.testing.assert_close(St.A(X), X)
    assert float(St.C(X).norm()) < 1e-12
    with pytest.raises(TypeError, match="weight_var_transfer"):
        cdopt.Linear_cdopt(4, 3, weight_var_transfer=lambda s: s)


def test_unknown_manifold_fails_with_the_registry_error():
    missing = type("x_torch", (cdopt._ManifoldTorch,), {"solvent_name": "not_a_manifold"})
    with pytest.raises(solvent.UnknownManifoldError, match="not_a_manifold"):
        cdopt.Linear_cdopt(4, 3, manifold_class=missing)


def test_cdopt_layers_pickle():
    rnn = RNN_cdopt(3, 4, manifold_class=stiefel_torch, penalty_param=0.1)
    twin = pickle.loads(pickle.dumps(rnn))
    x = torch.randn(5, 1, 3)
    assert torch.equal(twin(x)[0], rnn(x)[0]) and twin.penalty_param == 0.1


# ----------------------------------------------------------------------------------------
# /work/shared/reference/cdopt_rnn_tutorial.txt: CDOpt's "Training Single-Layer RNN with
# Constrained Weights". The model class and the training-step lines below are the
# tutorial's, unchanged (its indentation restored); only the imports above differ.
device = torch.device("cpu")


# The Neural Network
class VanillaRNN_MNIST(nn.Module):
    def __init__(self, batch_size, input_size, hidden_size, output_size):
        super(VanillaRNN_MNIST, self).__init__()
        self.batch_size, self.input_size, self.hidden_size, self.output_size = batch_size, input_size, hidden_size, output_size  # noqa: E501
        # replace nn.RNN Layer by the layers from `cdopt.nn.RNN_cdopt`. Users can try other manifold classes from `cdopt.manifold_torch`  # noqa: E501
        self.rnn = RNN_cdopt(input_size, hidden_size, manifold_class = stiefel_torch, penalty_param = 0.2)  # noqa: E501
        # Fully Connected Layer. Users can try other manifold classes from `cdopt.manifold_torch`.
        self.layer = nn.Linear(hidden_size, self.output_size)
        # self.layer = cdopt.nn.Linear_cdopt(hidden_size, self.output_size, manifold_class= stiefel_torch)  # noqa: E501

    def forward(self, images, prints=False):
        if prints: print('Original Images Shape:', images.shape)  # noqa: E701
        images = images.permute(1, 0, 2)
        if prints: print('Permuted Imaged Shape:', images.shape)  # noqa: E701
        # Initialize hidden state with zeros
        hidden_state = torch.zeros(1, self.batch_size, self.hidden_size, device = device)
        if prints: print('Initial hidden state Shape:', hidden_state.shape)  # noqa: E701
        # Creating RNN
        hidden_outputs, hidden_state = self.rnn(images, hidden_state)
        # Log probabilities
        out = self.layer(hidden_state)
        if prints:
            print('----hidden_outputs shape:', hidden_outputs.shape, '\n' +
                  '----final hidden state:', hidden_state.shape, '\n' +
                  '----out shape:', out.shape)
        # Reshaped out
        out = out.view(-1, self.output_size)
        if prints: print('Out Final Shape:', out.shape)  # noqa: E701
        return out


def test_cdopt_rnn_tutorial_runs_unchanged():
    torch.manual_seed(0)
    batch_size, learning_rate = 8, 0.0005
    model = VanillaRNN_MNIST(batch_size, 28, 32, 10).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    for _ in range(2):
        images = torch.rand(batch_size, 28, 28).view(-1, 28, 28).to(device)
        labels = torch.randint(0, 10, (batch_size,)).to(device)
        out = model(images)
        optimizer.zero_grad()
        loss = criterion(out, labels) + get_quad_penalty(model)
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
    assert out.shape == (batch_size, 10)
    assert float(get_constraint_violation(model)) < 1e-3
