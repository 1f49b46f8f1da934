"""A constrained model trained with DistributedDataParallel over gloo on 2 processes."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import solvent

WORLD = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model() -> nn.Module:
    torch.manual_seed(0)  # every rank builds the same model
    net = nn.ModuleDict({"rnn": nn.GRU(3, 6, batch_first=True), "head": nn.Linear(6, 2)}).double()
    solvent.constrain(net["rnn"], beta=0.5)
    solvent.constrain(net["head"], beta=0.5)
    return net


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = _model()

    def forward(self, x):
        out, _ = self.body["rnn"](x)
        return self.body["head"](out[:, -1])


def _worker(rank: int, port: int, outdir: str) -> None:
    torch.set_num_threads(1)
    os.environ.setdefault("SOLVENT_DISABLE_PLUGIN_AUTOLOAD", "1")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)  # fmt: skip
    try:
        net = _Net()
        ddp = nn.parallel.DistributedDataParallel(net)
        gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
        for _ in range(3):
            x = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64)
            loss = ddp(x).square().mean() + solvent.penalty(net)
            ddp.zero_grad()
            loss.backward()
            with torch.no_grad():  # plain SGD
                for p in ddp.parameters():
                    p.sub_(0.05 * p.grad)
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        torch.save({"state": state, "violation": solvent.violation(net)},
                   os.path.join(outdir, f"rank{rank}.pt"))  # fmt: skip
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_training_keeps_ranks_identical_and_feasible(tmp_path):
    start = _model().state_dict()
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    a, b = results[0]["state"], results[1]["state"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    moved = [k for k in a if not torch.equal(a[k], start[k.removeprefix("body.")])]
    assert "body.rnn.weight_hh_l0" in moved  # the constrained X was trained
    assert results[0]["violation"].keys() == {"body.rnn.weight_hh_l0", "body.head.weight"}
    assert max(results[0]["violation"].values()) < 0.2
