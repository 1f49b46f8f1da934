"""Question 5: the MNIST example's training time, constrained against unconstrained.

Runs the example's own epoch loop (``examples/mnist_rnn.py``: cached map,
penalty, ``loss.item()``, accuracy; its progress bar disabled) on
chunks of ``--batches`` training batches, alternating the constrained and the
unconstrained model chunk by chunk in one process, each chunk on the same
images in the same order. Reports the time per batch and the projected epoch
(60000 images). Target: constrained at most 1.10x the unconstrained time.

Uses MNIST from ``--data`` (prepared by ``make demo``) when it is there, else
random images of MNIST's shape (the time of a step does not depend on the pixels;
the table says which).

    python benchmarks/bench_mnist_epoch.py [--quick] [--threads 1,2] [--batches 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

from _harness import (  # noqa: E402
    Stats,
    Table,
    fmt_ms,
    fmt_ratio,
    make_parser,
    resolve,
    time_interleaved,
    write_tables,
)

EPOCH_IMAGES = 60000
CONSTRAINED, UNCONSTRAINED = "constrained (solvent, stiefel)", "unconstrained nn.RNN"


class _NoBar:
    """Stands in for the example's tqdm bar, disabled: no progress read-outs are timed."""

    disable = True

    def set_postfix(self, **_: object) -> None:
        pass

    def update(self, _: int) -> None:
        pass


def _data(args, n_images: int):
    """(MnistData, description): the first n training images, or random ones of that shape."""
    from mnist_data import MnistData, MnistDataError, load_mnist

    if not args.quick:
        try:
            d = load_mnist(args.data)
            return MnistData(d.train_x[:n_images], d.train_y[:n_images], d.test_x[:1],
                             d.test_y[:1]), "MNIST"
        except (MnistDataError, OSError) as err:
            print(f"MNIST not available ({err}); timing random images of its shape")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_images, 28, 28, generator=g)
    y = torch.randint(0, 10, (n_images,), generator=g)
    return MnistData(x, y, x[:1], y[:1]), "random images of MNIST's shape"


def _trainer(unconstrained: bool, args, data):
    import mnist_rnn

    cfg = mnist_rnn.parse_args(["--threads", "1", "--device", args.device])
    cfg.unconstrained = unconstrained
    if args.quick:
        cfg.hidden = 16
    model = mnist_rnn.build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    device_data = type(data)(*(t.to(args.device) for t in data))

    def chunk() -> None:
        gen = torch.Generator().manual_seed(0)  # both models: same images, same order
        mnist_rnn._train_epoch(model, opt, device_data, gen, cfg, _NoBar())

    return chunk


def main(argv: list[str] | None = None) -> list:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=None, help="batches per timed chunk (20)")
    parser.add_argument("--data", type=Path, default=Path("data"), help="MNIST data root")
    args = resolve(parser.parse_args(argv))
    import mnist_rnn

    batches = args.batches or (2 if args.quick else 20)
    batch_size = mnist_rnn.parse_args([]).batch_size
    data, source = _data(args, batches * batch_size)
    fns = {CONSTRAINED: _trainer(False, args, data), UNCONSTRAINED: _trainer(True, args, data)}
    tables = []
    for threads in args.thread_list:
        torch.set_num_threads(threads)
        stats = time_interleaved(fns, reps=args.reps, warmup=args.warmup, device=args.device)
        tables.append(_table(stats, batches, batch_size, threads, source, args))
    write_tables(tables, args.markdown)
    return tables


def _table(stats: dict[str, Stats], batches, batch_size, threads, source, args) -> Table:
    per_epoch = EPOCH_IMAGES / (batches * batch_size)
    ratio = stats[CONSTRAINED].median / stats[UNCONSTRAINED].median
    t = Table(f"Q5 MNIST example training, {threads} thread(s), {args.device}",
              ["model", "ms / batch (median)", "IQR ms / batch", "projected epoch s",
               "÷ unconstrained"])
    for name, s in stats.items():
        t.rows.append([name, fmt_ms(s.median / batches),
                       f"{fmt_ms(s.q1 / batches)}–{fmt_ms(s.q3 / batches)}",
                       f"{s.median * per_epoch:.1f}",
                       fmt_ratio(s.median / stats[UNCONSTRAINED].median)])
    t.notes.append(f"{args.reps} interleaved chunks of {batches} batches of {batch_size} "
                   f"({source}) after {args.warmup} warm-up chunk(s), the example's own "
                   f"epoch loop; constrained ÷ unconstrained = {ratio:.3f} (target ≤ 1.10: "
                   f"{'met' if ratio <= 1.10 else 'MISSED'})")
    return t


if __name__ == "__main__":
    main()
