"""Sequential MNIST with an orthogonal recurrent weight: CDOpt's RNN tutorial on solvent.

A single-layer RNN reads each image row by row (28 steps of 28 pixels), hidden
size 150, and a linear layer classifies its last hidden state. The recurrent
weight ``weight_hh_l0`` lives on the Stiefel manifold through
``solvent.constrain``; the loss is cross-entropy + ``solvent.penalty(model)``.
Adam, lr 5e-4, batch 64, 10 epochs, seed 1234 (the tutorial's settings; its
printed 96.5% is mis-scored, see docs/examples.md).

Long sequences: ``--pixel`` reads one pixel per step (784 steps) and
``--permute`` reads the pixels in a fixed order drawn from ``--perm-seed``
(permuted pixel MNIST); ``--cell modrelu`` swaps ``nn.RNN`` for expRNN's modReLU
cell (geotorch's pixel-MNIST model). These are GPU-scale runs at full size.

Note [beta]: CDOpt's ``penalty_param=0.2`` adds ``0.2 * ||C(X)||^2``. solvent's
penalty is ``beta * 1/2 ||C(X)||^2``, so the same objective is ``beta = 0.4``,
the default here.

Usage::

    python examples/mnist_rnn.py --threads 2                  # the tutorial, constrained
    python examples/mnist_rnn.py --unconstrained              # plain nn.RNN baseline
    python examples/mnist_rnn.py --compare                    # both, one figure
    python examples/mnist_rnn.py --limit 512 --test-limit 256 --epochs 2   # smoke test
    python examples/mnist_rnn.py --resume                     # continue an interrupted run
    python examples/mnist_rnn.py --pixel --cell modrelu --hidden 170 --device cuda  # 784 steps
    python examples/mnist_rnn.py --permute --cell modrelu --hidden 170 --device cuda

Writes ``metrics.json``, ``mnist_rnn.png`` and ``checkpoint.pt`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_data import MnistData, load_mnist

__all__ = [
    "PERMUTATION_SEED",
    "ModReLURNN",
    "RowRNN",
    "build_model",
    "evaluate",
    "main",
    "parse_args",
    "plot_runs",
    "summary",
    "to_sequences",
    "train",
]

PERMUTATION_SEED = 0  # the pixel order of --permute, fixed across runs and seeds

# Settings that change the result: a checkpoint resumes only under the same ones.
RESULT_KEYS = (
    "manifold",
    "hidden",
    "beta",
    "lr",
    "batch_size",
    "seed",
    "unconstrained",
    "limit",
    "test_limit",
    "pixel",
    "permute",
    "perm_seed",
    "cell",
    "clip",
    "schedule",
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; defaults reproduce the CDOpt tutorial."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifold", default="stiefel", help="manifold of weight_hh_l0")
    p.add_argument("--hidden", type=_positive, default=150)
    p.add_argument("--epochs", type=_positive, default=10)
    p.add_argument("--beta", type=float, default=0.4, help="penalty weight (Note [beta])")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=_positive, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--unconstrained", action="store_true", help="plain nn.RNN baseline")
    p.add_argument("--pixel", action="store_true", help="one pixel per step: 784 steps")
    p.add_argument(
        "--permute", action="store_true", help="pixels in a fixed random order (implies --pixel)"
    )
    p.add_argument(
        "--cell",
        choices=("tanh", "modrelu"),
        default="tanh",
        help="tanh: nn.RNN (the tutorial); modrelu: expRNN's cell (geotorch's pixel MNIST)",
    )
    p.add_argument("--perm-seed", type=int, default=PERMUTATION_SEED, help="seed of --permute")
    p.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this")
    p.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="learning rate: constant, or cosine decay to 0 over all the steps",
    )
    p.add_argument("--compare", action="store_true", help="run constrained and unconstrained")
    p.add_argument("--limit", type=_positive, default=None, help="train on the first N images")
    p.add_argument("--test-limit", type=_positive, default=None, help="test on the first N images")
    p.add_argument("--threads", type=_positive, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/mnist_rnn[_unconstrained])",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--data", type=Path, default=Path("data"), help="data root (MNIST/raw)")
    p.add_argument(
        "--plot",
        type=Path,
        nargs="+",
        default=None,
        metavar="METRICS",
        help="only draw the figure of existing metrics.json files into --out",
    )
    args = p.parse_args(argv)
    args.pixel = args.pixel or args.permute
    if args.out is None:
        args.out = Path("runs/mnist_rnn" + ("_unconstrained" if args.unconstrained else ""))
    return args


class ModReLURNN(nn.Module):
    """expRNN's recurrence ``h_t = modReLU(W_hh h_{t-1} + W_ih x_t + b_ih)``, batch first.

    Holds ``weight_hh_l0`` under ``nn.RNN``'s name, so the same ``solvent.constrain``
    call applies; ``W_hh`` starts orthogonal, ``W_ih`` Kaiming-normal (geotorch's
    ``examples/sequential_mnist.py``). It reads ``W_hh`` once per sequence. Returns
    ``(states, last_state[None])`` as ``nn.RNN`` does.
    """

    def __init__(self, input_size: int, hidden: int) -> None:
        from copy_memory import ModReLU

        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden, input_size))
        self.bias_ih_l0 = nn.Parameter(torch.zeros(hidden))
        self.weight_hh_l0 = nn.Parameter(torch.empty(hidden, hidden))
        nn.init.kaiming_normal_(self.weight_ih_l0, nonlinearity="relu")
        nn.init.orthogonal_(self.weight_hh_l0)
        self.act = ModReLU(hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W = self.weight_hh_l0
        inputs = nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        h = inputs.new_zeros(inputs.shape[0], self.hidden_size)
        states = []
        for t in range(inputs.shape[1]):
            h = self.act(inputs[:, t] + h @ W.T)
            states.append(h)
        return torch.stack(states, 1), h[None]


class RowRNN(nn.Module):
    """RNN over a sequence (the 28 rows of an image, or its 784 pixels), then a linear
    classifier of the last state. ``cell``: ``"tanh"`` (``nn.RNN``, the tutorial's) or
    ``"modrelu"`` (:class:`ModReLURNN`, geotorch's and expRNN's for pixel MNIST)."""

    def __init__(
        self, hidden: int, classes: int = 10, input_size: int = 28, cell: str = "tanh"
    ) -> None:
        super().__init__()
        if cell == "tanh":
            self.rnn = nn.RNN(input_size, hidden, batch_first=True)
        else:
            self.rnn = ModReLURNN(input_size, hidden)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(images)
        return self.fc(h[-1])


def to_sequences(data: MnistData, pixel: bool, permute: bool, perm_seed: int) -> MnistData:
    """Images (N, 28, 28) as the sequences the RNN reads: (N, 28, 28) rows, or (N, 784, 1) pixels.

    ``permute`` reads the pixels in the order of a random permutation drawn from
    ``perm_seed`` (the same one for the training and the test images).

    Example:
        >>> x = torch.arange(2 * 28 * 28.0).reshape(2, 28, 28)
        >>> d = MnistData(x, torch.zeros(2), x, torch.zeros(2))
        >>> to_sequences(d, pixel=True, permute=False, perm_seed=0).train_x.shape
        torch.Size([2, 784, 1])
        >>> p = to_sequences(d, pixel=True, permute=True, perm_seed=0).test_x
        >>> sorted(p[0, :, 0].tolist()) == x[0].flatten().tolist()
        True
    """
    if not (pixel or permute):
        return data
    n_pixels = data.train_x.shape[-1] * data.train_x.shape[-2]
    order = torch.randperm(n_pixels, generator=torch.Generator().manual_seed(perm_seed))

    def pixels(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), n_pixels)
        return (flat[:, order.to(x.device)] if permute else flat).unsqueeze(-1)

    return MnistData(pixels(data.train_x), data.train_y, pixels(data.test_x), data.test_y)


def build_model(cfg: argparse.Namespace) -> nn.Module:
    """The tutorial's network, with ``weight_hh_l0`` constrained unless ``--unconstrained``."""
    import solvent

    torch.manual_seed(cfg.seed)
    model = RowRNN(cfg.hidden, input_size=1 if cfg.pixel else 28, cell=cfg.cell)
    if not cfg.unconstrained:
        solvent.constrain(model.rnn, "weight_hh_l0", cfg.manifold, beta=cfg.beta)
    return model.to(cfg.device)


def violations(model: nn.Module, cfg: argparse.Namespace) -> dict[str, float]:
    """Feasibility per constrained weight; for the baseline, its raw recurrent weight's."""
    import solvent

    with torch.no_grad():
        if cfg.unconstrained:
            M = solvent.manifold(cfg.manifold)
            raw = {"rnn.weight_hh_l0": M.violation(model.rnn.weight_hh_l0)}
        else:
            raw = solvent.violation(model)
    return {k: float(torch.as_tensor(v).max()) for k, v in raw.items()}


def _default_penalty(cfg):
    import solvent

    return None if cfg.unconstrained else solvent.penalty


def _train_epoch(
    model, opt, data: MnistData, gen, cfg, bar, penalty=None, sched=None, violation=None
) -> dict[str, float]:
    """One pass over the training set. ``penalty(model)`` is added to the loss (default:
    ``solvent.penalty`` unless ``cfg.unconstrained``); ``sched`` steps once per batch."""
    penalty = penalty or _default_penalty(cfg)
    violation = violation or (lambda m: violations(m, cfg))
    model.train()
    n = data.train_x.shape[0]
    order = torch.randperm(n, generator=gen).to(data.train_x.device)
    total = ce_sum = correct = 0.0
    for i, start in enumerate(range(0, n, cfg.batch_size)):
        idx = order[start : start + cfg.batch_size]
        x, y = data.train_x[idx], data.train_y[idx]
        with parametrize.cached():  # A(X) once per step, however often the RNN reads it
            out = model(x)
            ce = nn.functional.cross_entropy(out, y)
            loss = ce if penalty is None else ce + penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        if getattr(cfg, "clip", None):
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        if sched is not None:
            sched.step()
        total += loss.item() * len(idx)
        ce_sum += ce.item() * len(idx)
        correct += (out.argmax(1) == y).sum().item()
        seen = min(start + cfg.batch_size, n)
        if not bar.disable and (i % 25 == 0 or seen == n):
            bar.set_postfix(
                loss=f"{total / seen:.3f}",
                acc=f"{correct / seen:.3f}",
                viol=f"{max(violation(model).values(), default=0):.1e}",
            )
        bar.update(1)
    return {"train_loss": total / n, "train_ce": ce_sum / n, "train_acc": correct / n}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Accuracy over every image of (x, y): no batch is dropped."""
    model.eval()
    with parametrize.cached():
        correct = sum(
            (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
            for i in range(0, len(x), batch)
        )
    return correct / len(x)


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save leaves the previous checkpoint


def _restore(path: Path, cfg, model, opt, gen, sched) -> list[dict]:
    state = torch.load(path, map_location=cfg.device, weights_only=True)
    mine = {k: getattr(cfg, k) for k in RESULT_KEYS}
    theirs = {k: state["config"].get(k) for k in RESULT_KEYS}
    if mine != theirs:
        diff = {k: (theirs[k], mine[k]) for k in RESULT_KEYS if mine[k] != theirs[k]}
        raise SystemExit(f"{path} was made with other settings (checkpoint, now): {diff}")
    if state["epoch"] > cfg.epochs:
        raise SystemExit(f"{path} already holds {state['epoch']} epochs; ask for --epochs >= that")
    if cfg.schedule != "constant" and state["config"]["epochs"] != cfg.epochs:
        raise SystemExit(
            f"{path} ran a {cfg.schedule} schedule over {state['config']['epochs']} epochs; "
            f"resume it with --epochs {state['config']['epochs']}"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state["batch_rng"])
    print(f"resumed from {path} after epoch {state['epoch']}")
    return state["epochs"]


def _scheduler(opt, cfg, n_batches: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * n_batches)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def train(
    cfg: argparse.Namespace,
    data: MnistData,
    model: nn.Module | None = None,
    penalty=None,
    violation=None,
    label: str | None = None,
) -> dict:
    """Train one run; checkpoint and write metrics.json after every epoch. Returns the metrics.

    By default the model is :func:`build_model`'s and the penalty ``solvent.penalty``
    (none with ``cfg.unconstrained``); a benchmark passes another ``model``, its
    ``penalty(model)`` and ``violation(model) -> {name: float}`` (CDOpt's, say).
    """
    from tqdm import tqdm

    cfg.out.mkdir(parents=True, exist_ok=True)
    ckpt = cfg.out / "checkpoint.pt"
    model = build_model(cfg) if model is None else model
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n_batches = -(-len(data.train_x) // cfg.batch_size)
    sched = _scheduler(opt, cfg, n_batches)
    gen = torch.Generator().manual_seed(cfg.seed)
    epochs = _restore(ckpt, cfg, model, opt, gen, sched) if cfg.resume and ckpt.exists() else []
    if label is None:
        label = "unconstrained" if cfg.unconstrained else f"{cfg.manifold} (beta={cfg.beta:g})"
    violation = violation or (lambda m: violations(m, cfg))
    for epoch in range(len(epochs) + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch}/{cfg.epochs}",
            leave=False,
            mininterval=1,
            disable=None,
        )  # None: a bar on a terminal, none in a log file
        with bar:
            row = {
                "epoch": epoch,
                **_train_epoch(model, opt, data, gen, cfg, bar, penalty, sched, violation),
            }
        row["wall_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        row["test_acc"] = evaluate(model, data.test_x, data.test_y)
        row["eval_s"] = time.perf_counter() - t1
        row["violation"] = violation(model)
        row["lr"] = sched.get_last_lr()[0]
        epochs.append(row)
        print(
            f"[{label}] epoch {epoch}/{cfg.epochs} loss {row['train_loss']:.4f} "
            f"train acc {row['train_acc']:.4f} test acc {row['test_acc']:.4f} "
            f"violation {max(row['violation'].values(), default=0):.2e} "
            f"time {row['wall_s']:.1f}s",
            flush=True,
        )
        _save_checkpoint(
            ckpt,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "torch_rng": torch.get_rng_state(),
                "batch_rng": gen.get_state(),
                "epochs": epochs,
                "config": _config(cfg),
            },
        )
        metrics = _metrics(cfg, label, epochs, len(data.train_x), len(data.test_x))
        (cfg.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return _metrics(cfg, label, epochs, len(data.train_x), len(data.test_x))


def _config(cfg: argparse.Namespace) -> dict:
    return {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(cfg).items()
        if k not in ("plot", "compare")
    }


def _metrics(cfg, label: str, epochs: list[dict], n_train: int, n_test: int) -> dict:
    best = max(epochs, key=lambda e: e["test_acc"]) if epochs else {}
    return {
        "label": label,
        "config": _config(cfg),
        "epochs": epochs,
        "complete": len(epochs) == cfg.epochs,
        "final_test_acc": epochs[-1]["test_acc"] if epochs else None,
        "best_test_acc": best.get("test_acc"),
        "best_epoch": best.get("epoch"),
        "train_size": n_train,
        "test_size": n_test,
        "mean_epoch_wall_s": sum(e["wall_s"] for e in epochs) / max(len(epochs), 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def plot_runs(runs: list[dict], path: Path) -> None:
    """Loss, train/test accuracy, violation and epoch wall time per epoch, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for k, run in enumerate(runs):
        ep = [e["epoch"] for e in run["epochs"]]
        c, name = f"C{k}", run["label"]
        axes[0].plot(ep, [e["train_ce"] for e in run["epochs"]], "o-", c=c, label=name)
        axes[1].plot(ep, [e["train_acc"] for e in run["epochs"]], "o--", c=c, label=f"{name} train")
        axes[1].plot(ep, [e["test_acc"] for e in run["epochs"]], "s-", c=c, label=f"{name} test")
        viol = [max(e["violation"].values(), default=float("nan")) for e in run["epochs"]]
        axes[2].semilogy(ep, viol, "o-", c=c, label=name)
        width = 0.8 / len(runs)
        axes[3].bar(
            [x + (k - (len(runs) - 1) / 2) * width for x in ep],
            [e["wall_s"] for e in run["epochs"]],
            width=width,
            color=c,
            label=name,
        )
    manifold = runs[0]["config"]["manifold"]
    titles = ["train cross-entropy", "accuracy", f"||C(W_hh)|| ({manifold})", "epoch wall time [s]"]
    for ax, title in zip(axes, titles):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _combined(runs: list[dict]) -> dict:
    out = {"runs": runs}
    walls = {r["label"]: r["mean_epoch_wall_s"] for r in runs}
    if len(runs) == 2:
        out["epoch_wall_ratio"] = runs[0]["mean_epoch_wall_s"] / runs[1]["mean_epoch_wall_s"]
    out["mean_epoch_wall_s"] = walls
    return out


def summary(runs: list[dict], metrics: Path, figure: Path) -> str:
    """The closing lines of a run: each model's correctly scored test accuracy, and the files.

    Example:
        >>> run = {"label": "stiefel (beta=0.4)", "final_test_acc": 0.9572, "test_size": 10000,
        ...        "best_test_acc": 0.96, "best_epoch": 9, "epochs": [{}] * 10}
        >>> print(summary([run], Path("m.json"), Path("f.png")))
        summary: test accuracy over every test image (none dropped), after 10 epochs
          stiefel (beta=0.4): 95.72% (9572/10000); best epoch 9: 96.00%
        metrics: m.json
        figure:  f.png
    """
    epochs = ", ".join(sorted({str(len(r["epochs"])) for r in runs}))
    lines = [f"summary: test accuracy over every test image (none dropped), after {epochs} epochs"]
    lines += [
        f"  {r['label']}: {r['final_test_acc']:.2%} "
        f"({round(r['final_test_acc'] * r['test_size'])}/{r['test_size']}); "
        f"best epoch {r['best_epoch']}: {r['best_test_acc']:.2%}"
        for r in runs
    ]
    return "\n".join([*lines, f"metrics: {metrics}", f"figure:  {figure}"])


def main(argv: list[str] | None = None) -> dict:
    """Run the experiment the command line asks for; return its metrics."""
    cfg = parse_args(argv)
    torch.set_num_threads(cfg.threads)
    if cfg.plot:
        runs = [json.loads(Path(p).read_text()) for p in cfg.plot]
        cfg.out.mkdir(parents=True, exist_ok=True)
        plot_runs(runs, cfg.out / "mnist_rnn.png")
        result = _combined(runs)
        (cfg.out / "metrics.json").write_text(json.dumps(result, indent=1))
        return result
    data = load_mnist(cfg.data, cfg.device, cfg.limit, cfg.test_limit)
    data = to_sequences(data, cfg.pixel, cfg.permute, cfg.perm_seed)
    print(
        f"MNIST: {len(data.train_x)} train, {len(data.test_x)} test images as sequences of "
        f"{data.train_x.shape[1]} steps; {torch.get_num_threads()} threads on {cfg.device}",
        flush=True,
    )
    if not cfg.compare:
        result = train(cfg, data)
        plot_runs([result], cfg.out / "mnist_rnn.png")
        print(summary([result], cfg.out / "metrics.json", cfg.out / "mnist_rnn.png"), flush=True)
        return result
    runs = []
    for unconstrained in (False, True):
        sub = argparse.Namespace(**{**vars(cfg), "unconstrained": unconstrained})
        sub.out = cfg.out / ("unconstrained" if unconstrained else "constrained")
        runs.append(train(sub, data))
    plot_runs(runs, cfg.out / "mnist_rnn.png")
    result = _combined(runs)
    (cfg.out / "metrics.json").write_text(json.dumps(result, indent=1))
    print(summary(runs, cfg.out / "metrics.json", cfg.out / "mnist_rnn.png"), flush=True)
    return result


if __name__ == "__main__":
    main()
