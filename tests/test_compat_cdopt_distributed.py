"""CDOpt's layers in torch.distributed: over RPC (a ``RemoteModule``) and under DDP.

Each test trains the same float64 model twice: once spread over processes, once in
this process, and the two runs must agree. The local run's layers are the ones
compared with the real cdopt in ``test_compat_cdopt_checkpoints.py``, so this pins
the distributed paths to cdopt's semantics: ``get_quad_penalty`` walks a model that
holds a ``RemoteModule`` (which refuses ``modules()``), a ``Linear_cdopt`` is built on
another worker from its class and arguments, gradients reach its variable through
distributed autograd, and DDP keeps replicas of a constrained layer equal.

Tolerance: float64, ten steps of plain SGD, the only difference being the order of
an all-reduce sum, so ``1e-12`` (relative) is ample.
"""

from __future__ import annotations

import os
import pathlib
import socket

import pytest
import torch
import torch.multiprocessing as mp

from solvent.compat.cdopt.manifold_torch import stiefel_torch
from solvent.compat.cdopt.nn import Linear_cdopt, get_quad_penalty

pytestmark = pytest.mark.slow
F64 = torch.float64
STEPS, LR = 10, 0.1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _layer(n_in: int, n_out: int, seed: int) -> Linear_cdopt:
    torch.manual_seed(seed)
    return Linear_cdopt(n_in, n_out, manifold_class=stiefel_torch, penalty_param=0.5, dtype=F64)


def _batch(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(16, 6, generator=g, dtype=F64), torch.randint(0, 3, (16,), generator=g)


_ce = torch.nn.functional.cross_entropy


def _worker(rank: int, ports: tuple[int, int], out_dir: str) -> None:
    """One of two processes: first DDP over gloo, then RPC (each saves what it measured)."""
    torch.set_num_threads(1)
    _ddp_run(rank, ports[0], out_dir)
    _rpc_run(rank, ports[1], os.path.join(out_dir, "rpc.pt"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> pathlib.Path:
    """Both distributed runs, in one pair of processes (starting one costs seconds)."""
    out = tmp_path_factory.mktemp("distributed")
    mp.spawn(_worker, args=((_free_port(), _free_port()), str(out)), nprocs=2, join=True)
    return out


# ---------------------------------------------------------------------- RPC
class _Hybrid(torch.nn.Module):
    """A remote constrained layer (on worker "ps") feeding a local constrained layer."""

    def __init__(self, remote: torch.nn.Module) -> None:
        super().__init__()
        self.remote, self.local = remote, _layer(4, 3, seed=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.local(torch.tanh(self.remote.forward(x)))


def _remote_penalty(module_rref) -> torch.Tensor:
    return get_quad_penalty(module_rref.local_value())


def _rpc_run(rank: int, port: int, out_path: str) -> None:
    import torch.distributed.autograd as dist_autograd
    from torch.distributed import rpc
    from torch.distributed.nn import RemoteModule
    from torch.distributed.optim import DistributedOptimizer

    options = rpc.TensorPipeRpcBackendOptions(init_method=f"tcp://127.0.0.1:{port}")
    rpc.init_rpc(["trainer", "ps"][rank], rank=rank, world_size=2, rpc_backend_options=options)
    if rank == 0:
        # the layer is built on "ps" from its class and arguments, seeded there
        remote = RemoteModule("ps", _layer, args=(6, 4, 1))
        model = _Hybrid(remote)
        params = remote.remote_parameters() + [rpc.RRef(p) for p in model.local.parameters()]
        opt = DistributedOptimizer(torch.optim.SGD, params, lr=LR)
        x, y = _batch(0)
        losses = []
        for _ in range(STEPS):
            with dist_autograd.context() as context:
                remote_penalty = rpc.rpc_sync("ps", _remote_penalty, args=(remote.module_rref,))
                loss = _ce(model(x), y) + get_quad_penalty(model) + remote_penalty
                dist_autograd.backward(context, [loss])
                opt.step(context)
            losses.append(float(loss.detach()))
        torch.save({"losses": losses}, out_path)
    rpc.shutdown()


def test_remote_module_holding_a_cdopt_layer_trains_like_the_local_model(runs):
    got = torch.load(runs / "rpc.pt", weights_only=True)["losses"]

    first, second = _layer(6, 4, seed=1), _layer(4, 3, seed=2)
    opt = torch.optim.SGD([*first.parameters(), *second.parameters()], lr=LR)
    x, y = _batch(0)
    expected = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = _ce(second(torch.tanh(first(x))), y)
        loss = loss + get_quad_penalty(first) + get_quad_penalty(second)
        loss.backward()
        opt.step()
        expected.append(float(loss.detach()))
    assert expected[-1] < expected[0]
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------- DDP
def _ddp_run(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)  # fmt: skip
    layer = _layer(6, 3, seed=3)
    model = DistributedDataParallel(layer)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = _batch(rank)
    for _ in range(STEPS):
        opt.zero_grad()
        # DDP averages the two trainers' gradients: of (CE_0 + CE_1) / 2 + penalty
        loss = _ce(model(x), y) + get_quad_penalty(model)
        loss.backward()
        opt.step()
    torch.save({"weight": layer.weight.detach()}, os.path.join(out_dir, f"ddp{rank}.pt"))
    dist.destroy_process_group()


def test_ddp_replicas_of_a_cdopt_layer_stay_equal_and_follow_the_averaged_loss(runs):
    w0, w1 = (torch.load(runs / f"ddp{r}.pt", weights_only=True)["weight"] for r in (0, 1))
    assert torch.equal(w0, w1)

    layer = _layer(6, 3, seed=3)
    opt = torch.optim.SGD(layer.parameters(), lr=LR)
    batches = [_batch(0), _batch(1)]
    for _ in range(STEPS):
        opt.zero_grad()
        loss = sum(_ce(layer(x), y) for x, y in batches) / 2 + get_quad_penalty(layer)
        loss.backward()
        opt.step()
    torch.testing.assert_close(w0, layer.weight.detach(), rtol=1e-12, atol=1e-14)
