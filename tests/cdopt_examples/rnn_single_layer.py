"""CDOpt's "Training Single-Layer RNN with Constrained Weights" (examples/rnn_single_layer.ipynb).

Changes besides the substitution: MNIST-shaped offline data (``_data.fake_mnist``)
instead of the torchvision download, sizes and epochs are parameters (CDOpt:
hidden 150, 10 epochs on 60000 images), CPU only, no printing or plots.
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


def set_seed(seed = 1234):
    '''Sets the seed of the entire notebook so results are the same every time we run.
    This is for REPRODUCIBILITY.'''
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)


device = torch.device('cpu')
batch_size = 64


# The Neural Network
class VanillaRNN_MNIST(nn.Module):
    def __init__(self, batch_size, input_size, hidden_size, output_size):
        super(VanillaRNN_MNIST, self).__init__()
        self.batch_size, self.input_size, self.hidden_size, self.output_size = batch_size, input_size, hidden_size, output_size

        # replace nn.RNN Layer by the layers from `cdopt.nn.RNN_cdopt`. Users can try other manifold classes from `cdopt.manifold_torch`
        self.rnn = RNN_cdopt(input_size, hidden_size, manifold_class = stiefel_torch, penalty_param = 0.2)
        # Fully Connected Layer. Users can try other manifold classes from `cdopt.manifold_torch`.
        self.layer = nn.Linear(hidden_size, self.output_size)

    def forward(self, images, prints=False):
        images = images.permute(1, 0, 2)
        # Initialize hidden state with zeros
        hidden_state = torch.zeros(1, self.batch_size, self.hidden_size, device = device)
        # Creating RNN
        hidden_outputs, hidden_state = self.rnn(images, hidden_state)
        # Log probabilities
        out = self.layer(hidden_state)
        # Reshaped out
        out = out.view(-1, self.output_size)
        return out


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


def main(n_train=512, n_test=128, hidden_size=32, num_epochs=1, learning_rate=0.005):
    set_seed()
    mnist_train, mnist_test = fake_mnist(n_train, seed=1), fake_mnist(n_test, seed=2)
    input_size = 28
    output_size = 10
    # Instantiate the model
    vanilla_rnn = VanillaRNN_MNIST(batch_size, input_size, hidden_size, output_size)
    vanilla_rnn.to(device)
    out = train_network(vanilla_rnn, mnist_train, mnist_test, num_epochs=num_epochs,
                        learning_rate=learning_rate)
    out["quad_penalty"] = float(vanilla_rnn.rnn.quad_penalty().detach())
    return out
