"""CDOpt's tutorial "Training neural networks with manifold constraints" (tutorials/build_networks.md).

Its three PyTorch parts: a network with a ``Linear_cdopt`` on the Stiefel
manifold trained with Adadelta; a LeNet constrained by
``set_constraint_dissolving``; the functional API of
``cdopt.nn.utils.stateless``. Changes besides the substitution: MNIST-shaped
offline data (``_data.fake_mnist``), the number of images and epochs are
parameters (CDOpt: 60000 images, 10 epochs), CPU only, no printing. (The
JAX/Flax part of the tutorial is out of scope.)
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

from __future__ import print_function

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

import solvent.compat.cdopt
from solvent.compat.cdopt.manifold_torch import stiefel_torch
from solvent.compat.cdopt.nn import get_quad_penalty
from solvent.compat.cdopt.nn.modules import Conv2d_cdopt, Linear_cdopt
from solvent.compat.cdopt.nn.utils.set_constraints import set_constraint_dissolving
from solvent.compat.cdopt.nn.utils.stateless import (
    functional_call,
    functional_quad_penalty_call,
    get_quad_penalty_call,
)
from tests.cdopt_examples._data import fake_mnist


# ---------------------------------------------------------------- predefined layers
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = Linear_cdopt(9216, 128, manifold_class= stiefel_torch, penalty_param = 0.02)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target) + get_quad_penalty(model)
        # equivalent to
        # loss = F.nll_loss(output, target) +  0.02 * model.conv1.quad_penalty()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)
    return test_loss, correct / len(test_loader.dataset)


class ARGS():
    pass


def main(n_train=192, n_test=128, epochs=2):
    args = ARGS()
    args.batch_size = 64
    args.test_batch_size = 1000
    args.epochs = epochs
    args.lr = 0.5    # learning rate
    args.gamma = 0.7 # weight-decay parameter
    args.seed = 1  # random seed for traning

    torch.manual_seed(1)
    device = torch.device("cpu")
    train_kwargs = {'batch_size': 64}
    test_kwargs = {'batch_size': 1000}
    dataset1, dataset2 = fake_mnist(n_train, seed=1), fake_mnist(n_test, seed=2)
    train_loader = torch.utils.data.DataLoader(dataset1,**train_kwargs)
    test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)

    losses, tests = [], [test(model, device, test_loader)]
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch, losses)
        tests.append(test(model, device, test_loader))
        scheduler.step()
    return {"losses": losses, "tests": tests,
            "feas": float(solvent.compat.cdopt.nn.get_constraint_violation(model))}


# ---------------------------------------------------------------- set_constraint_dissolving
class LeNet(nn.Module):  # the tutorial's second "Net"

    def __init__(self):
        super(LeNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(256, 120)  # 5*5 from image dimension
        set_constraint_dissolving(self.fc1, 'weight', manifold_class = stiefel_torch, penalty_param= 0.02)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        # Max pooling over a (2, 2) window
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        # If the size is a square, you can specify with a single number
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1) # flatten all dimensions except the batch dimension
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        x = F.log_softmax(x, dim=1)
        return x


def main_set_constraints(n=64):
    torch.manual_seed(0)
    net = LeNet()
    data, target = fake_mnist(n, seed=3).tensors
    loss = F.nll_loss(net(data), target) + get_quad_penalty(net)
    loss.backward()
    W = net.fc1.weight.detach()   # A(original): the weight fc1 computes with
    return {"loss": loss.item(), "original_shape": tuple(net.fc1.parametrizations.weight.original.shape),
            "gram_error": float((W @ W.T - torch.eye(120)).abs().max()),
            "grad": net.fc1.parametrizations.weight.original.grad is not None}


# ---------------------------------------------------------------- functional API
class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = solvent.compat.cdopt.nn.Linear_cdopt(3, 3, manifold_class= stiefel_torch, penalty_param=0.1)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc2(self.bn(self.fc1(x)))


def main_stateless():
    torch.manual_seed(0)
    m = MyModule()

    # Define parameter / buffer values to use during module computation.
    my_weight = torch.randn(3, 3, requires_grad=True)
    my_bias = torch.tensor([1., 2., 3.], requires_grad=True)
    params_and_buffers = {
        'fc1.weight': my_weight,
        'fc1.bias': my_bias,
        # Custom buffer values can be used too.
        'bn.running_mean': torch.randn(3),
    }

    # Apply module computation to the input with the specified parameters / buffers.
    inp = torch.randn(5, 3)
    output1 = functional_call(m, params_and_buffers, inp)
    quad_penalty1 = get_quad_penalty_call(m,params_and_buffers)
    output2, quad_penalty2 = functional_quad_penalty_call(m, params_and_buffers, inp)
    return {"m": m, "inp": inp, "my_weight": my_weight, "my_bias": my_bias,
            "output1": output1, "output2": output2,
            "quad_penalty1": quad_penalty1, "quad_penalty2": quad_penalty2}
