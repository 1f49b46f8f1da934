"""Stand-ins for the MNIST download of CDOpt's examples: MNIST-shaped, learnable, offline.

Each class has a fixed random 28x28 prototype; an image is its class's
prototype plus noise, in [0, 1] like ``transforms.ToTensor()`` output, so a
network can learn the labels in a few steps.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset


def fake_mnist(n: int, seed: int = 0, noise: float = 0.3) -> TensorDataset:
    """``n`` images of shape (1, 28, 28) with labels 0..9."""
    gen = torch.Generator().manual_seed(1234)
    prototypes = torch.rand(10, 1, 28, 28, generator=gen)
    gen.manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = prototypes[labels] + noise * torch.randn(n, 1, 28, 28, generator=gen)
    return TensorDataset(images.clamp(0, 1), labels)
