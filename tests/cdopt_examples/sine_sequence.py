"""CDOpt's sine-sequence example (examples/sine_sequence.ipynb): two LSTMCell_cdopt, L-BFGS.

Changes besides the substitution: the number of series N, their length L, the
steps and the predicted future are parameters (CDOpt: 100, 1000, 15, 1000),
CPU only, no printing or plots.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

import solvent.compat.cdopt
from solvent.compat.cdopt.nn import LSTMCell_cdopt, get_quad_penalty

device = torch.device('cpu')


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = LSTMCell_cdopt(1, 51, manifold_class=solvent.compat.cdopt.manifold_torch.stiefel_torch, penalty_param=0.01)
        self.lstm2 = LSTMCell_cdopt(51, 51, manifold_class=solvent.compat.cdopt.manifold_torch.stiefel_torch, penalty_param=0.01)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future = 0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):# if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


def main(N=20, L=40, total_steps=1, future=10):
    np.random.seed(2)

    T = 20   # frequency of sine function

    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')

    # set random seed to 0
    np.random.seed(0)
    torch.manual_seed(0)
    # load data and make training set
    input = torch.from_numpy(data[5:, :-1]).to(device)
    target = torch.from_numpy(data[5:, 1:]).to(device)
    test_input = torch.from_numpy(data[:5, :-1]).to(device)
    test_target = torch.from_numpy(data[:5, 1:]).to(device)
    # build the model
    seq = Sequence()
    seq.double()
    seq.to(device)
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    #begin to train

    test_losses, train_losses = [], []
    with torch.no_grad():
        test_losses.append(criterion(seq(test_input, future=future)[:, :-future], test_target).item())
    for i in range(total_steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target) + get_quad_penalty(seq)
            loss.backward()
            train_losses.append(loss.item())
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            test_losses.append(loss.item())

    penalty = seq.lstm1.quad_penalty() + seq.lstm2.quad_penalty()
    return {"train_losses": train_losses, "test_losses": test_losses,
            "quad_penalty": float(penalty.detach())}
