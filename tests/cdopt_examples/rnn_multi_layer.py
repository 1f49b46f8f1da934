"""CDOpt's "Training Multi-Layer RNN with Constrained Weights" (examples/rnn_multi_layer.ipynb).

Changes besides the substitution: MNIST-shaped offline data (``_data.fake_mnist``),
sizes and epochs are parameters (CDOpt: hidden 100, 2 layers, 10 epochs on
60000 images), CPU only, no printing or plots.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import os
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn.parameter import Parameter

import solvent.compat.cdopt
from solvent.compat.cdopt.manifold_torch import euclidean_torch, stiefel_torch
from solvent.compat.cdopt.nn import RNN_cdopt, get_quad_penalty
from tests.cdopt_examples._data import fake_mnist

device = torch.device('cpu')
batch_size = 64


class MultilayerRNN_MNIST(nn.Module):
    def __init__(self, input_size, hidden_size, layer_size, output_size, relu=True):
        super(MultilayerRNN_MNIST, self).__init__()
        self.input_size, self.hidden_size, self.layer_size, self.output_size = input_size, hidden_size, layer_size, output_size

        # Create RNN. Users can try other manifold classes from `cdopt.manifold_torch` in the setup of `cdopt.nn.RNN_cdopt`.
        if relu:
            self.rnn = RNN_cdopt(input_size, hidden_size, layer_size, batch_first=True, nonlinearity='relu', manifold_class = stiefel_torch, penalty_param = 0.2)
        else:
            self.rnn = RNN_cdopt(input_size, hidden_size, layer_size, batch_first=True, nonlinearity='tanh', manifold_class = stiefel_torch, penalty_param = 0.2)

        # Create FNN
        self.fnn = nn.Linear(hidden_size, output_size)

    def forward(self, images, prints=False):
        # Instantiate hidden_state at timestamp 0
        hidden_state = torch.zeros(self.layer_size, images.size(0), self.hidden_size).to(device)
        hidden_state = hidden_state.requires_grad_()
        # Compute RNN
        # .detach() is required to prevent vanishing gradient problem
        output, last_hidden_state = self.rnn(images, hidden_state.detach())
        # Compute FNN
        # We get rid of the second size
        output = self.fnn(output[:, -1, :])
        return output


def get_accuracy(out, actual_labels, batchSize):
    '''Saves the Accuracy of the batch.
    Takes in the log probabilities, actual label and the batchSize (to average the score).'''
    predictions = out.max(dim=1)[1]
    correct = (predictions == actual_labels).sum().item()
    accuracy = correct/batch_size

    return accuracy


def train_network(model, train_data, test_data, batchSize=64, num_epochs=1, learning_rate=0.0005):

    '''Trains the model and computes the average accuracy for train and test data.'''

    # Create dataloader for training dataset - so we can train on multiple batches
    # Shuffle after every epoch
    train_loader = torch.utils.data.DataLoader(dataset=train_data, batch_size=batchSize, shuffle=True, drop_last=True)
    test_loader = torch.utils.data.DataLoader(dataset=test_data, batch_size=batchSize, shuffle=True, drop_last=True)

    # Create criterion and optimizer
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)

    losses = []
    # Train the data multiple times
    for epoch in range(num_epochs):

        # Save Train and Test Loss
        train_loss = 0
        train_acc = 0

        # Set model in training mode:
        model.train()

        for k, (images, labels) in enumerate(train_loader):

            # Get rid of the channel
            images = images.view(-1, 28, 28)
            images = images.to(device)
            labels = labels.to(device)
            # Create log probabilities
            out = model(images)
            # Clears the gradients from previous iteration
            optimizer.zero_grad()
            # Computes loss: how far is the prediction from the actual? And add the layer.quad_penalty() to the loss function.
            loss = criterion(out, labels) + get_quad_penalty(model)
            # Computes gradients for neurons
            loss.backward()
            # Updates the weights
            optimizer.step()

            # Save Loss & Accuracy after each iteration
            train_loss += loss.item()
            train_acc += get_accuracy(out, labels, batchSize)
            losses.append(loss.item())

    # Save Test Accuracy
    test_acc = 0
    # Evaluation mode
    model.eval()

    for k, (images, labels) in enumerate(test_loader):
        # Get rid of the channel
        images = images.view(-1, 28, 28)
        images = images.to(device)
        labels = labels.to(device)
        # Create logit predictions
        out = model(images)
        # Add Accuracy of this batch
        test_acc += get_accuracy(out, labels, batchSize)

    # (CDOpt divides by the last index k; the mean over k + 1 batches is reported here)
    return {"losses": losses, "test_acc": test_acc / (k + 1)}


def main(n_train=512, n_test=128, hidden_size=32, layer_size=2, num_epochs=1, relu=False,
         learning_rate=0.005):
    torch.manual_seed(1234)
    random.seed(1234)
    np.random.seed(1234)
    mnist_train, mnist_test = fake_mnist(n_train, seed=1), fake_mnist(n_test, seed=2)
    input_size = 28
    output_size = 10
    # We'll use TANH as our activation function
    multilayer_rnn = MultilayerRNN_MNIST(input_size, hidden_size, layer_size, output_size, relu=relu)
    multilayer_rnn.to(device)
    out = train_network(multilayer_rnn, mnist_train, mnist_test, num_epochs=num_epochs,
                        learning_rate=learning_rate)
    out["quad_penalty"] = float(multilayer_rnn.rnn.quad_penalty().detach())
    return out
