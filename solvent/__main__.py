"""The ``solvent`` command line: list the registered manifolds, run the conformance kit.

Usage::

    python -m solvent manifolds
    python -m solvent check stiefel --shape 5,2 --shape 3,3 --dtype float32 --seed 1
    python -m solvent check scaled_sphere --kwargs '{"radius": 2.0}'

Exit status: 0 when everything passed, 1 when a conformance check failed,
2 for a usage error (bad option, unknown manifold, options the manifold
refuses).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import torch

import solvent
from solvent.exceptions import SolventError
from solvent.manifolds.base import is_closed_form
from solvent.plugins.manager import ManifoldEntry, registry

__all__ = ["main", "build_parser", "manifold_table", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DTYPES = {"float64": torch.float64, "float32": torch.float32,
          "complex128": torch.complex128, "complex64": torch.complex64}


class UsageError(Exception):
    """A problem with what the user asked for: reported on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``solvent check: error: ... (see --help)``."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _device(text: str | None) -> torch.device | None:
    """The ``--device`` option as a device this machine has, or a UsageError saying why not."""
    if text is None:
        return None
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(
            f"--device {text!r} is not a device; use cpu, cuda, cuda:1, mps, ..."
        ) from None
    if device.type == "meta":
        raise UsageError("--device meta holds no data to check; use cpu, cuda, ...")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {text!r}: this machine has no CUDA device; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(
            f"--device {text!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    try:  # allocating is the one check that holds for every other backend
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError):
        raise UsageError(
            f"--device {text!r} is not available on this machine (torch cannot allocate "
            "there); use --device cpu, or run where that device exists"
        ) from None
    return device


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a shape is comma-separated integers like 4,2; got {text!r}"
        ) from None
    if any(n < 0 for n in shape):
        raise argparse.ArgumentTypeError(f"a shape has no negative sizes; got {text!r}")
    return shape


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m solvent``."""
    parser = _Parser(
        prog="solvent",
        description="Constraint dissolving for PyTorch: inspect the manifold registry "
        "(built-ins and installed plugins) and run the conformance kit.",
        epilog="exit status: 0 ok, 1 a conformance check failed, 2 usage error or unknown manifold",
    )
    parser.add_argument("--version", action="version", version=f"solvent {solvent.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "manifolds", help="list every registered manifold: name, source, map, complex support"
    )
    check = sub.add_parser(
        "check",
        help="run the conformance kit (solvent.testing.check_manifold) on one manifold",
        description="Run the conformance kit on a registered manifold and print its report.",
        epilog="exit status: 0 every check passed, 1 a check failed, 2 usage error or unknown "
        "manifold",
    )
    check.add_argument("name", help="a registered manifold name (see `solvent manifolds`)")
    check.add_argument("--shape", type=_shape, action="append", metavar="N,P",
                       help="a point shape to check, e.g. 4,2 (repeatable; default: the "
                       "manifold's example shapes)")
    check.add_argument("--dtype", choices=sorted(DTYPES), default="float64",
                       help="default: float64")
    check.add_argument("--seed", type=int, default=0, help="seeds the random inputs (default: 0)")
    check.add_argument("--device", default=None,
                       help="where to run, e.g. cpu or cuda (default: cpu)")
    check.add_argument("--kwargs", default="{}", metavar="JSON",
                       help='options for the manifold, as a JSON object, e.g. \'{"radius": 2.0}\'')
    return parser


def _describe(entry: ManifoldEntry) -> tuple[str, str]:
    """(map kind, complex support) of an entry; '?' where it cannot be built without options."""
    try:
        M = entry.factory()
    except Exception:  # a manifold that needs options: say so rather than guess
        return "? (needs options)", "?"
    kind = "closed-form" if is_closed_form(M) else "generic"
    return kind, ("yes" if M.supports_complex else "no")


def manifold_table() -> str:
    """The registry as a text table: name, source, dissolving map, complex support.

    Example:
        >>> from solvent.__main__ import manifold_table
        >>> print(manifold_table().splitlines()[0].split())
        ['name', 'source', 'map', 'complex']
    """
    rows = [("name", "source", "map", "complex")]
    for name, entry in sorted(registry().items()):
        rows.append((name, entry.source, *_describe(entry)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _build(name: str, kwargs_json: str) -> solvent.Manifold:
    try:
        kwargs = json.loads(kwargs_json)
    except json.JSONDecodeError as err:
        raise UsageError(f"--kwargs is not valid JSON ({err}): {kwargs_json!r}") from None
    if not isinstance(kwargs, dict):
        raise UsageError(
            f"--kwargs must be a JSON object like '{{\"radius\": 2}}', got {kwargs_json!r}"
        )
    try:
        return solvent.manifold(name, **kwargs)
    except (SolventError, TypeError, ValueError) as err:
        raise UsageError(str(err)) from err


def _check(args: argparse.Namespace) -> int:
    from solvent.testing import check_manifold

    M = _build(args.name, args.kwargs)
    dtype = DTYPES[args.dtype]
    if dtype.is_complex and not M.supports_complex:
        raise UsageError(f"{M.name} is real only; choose --dtype float64 or float32")
    for shape in args.shape or ():
        try:
            M.check_shape(shape)
        except ValueError as err:
            raise UsageError(str(err)) from err
    device = _device(args.device)
    report = check_manifold(M, shapes=args.shape, dtype=dtype, device=device, seed=args.seed)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 check failed, 2 usage error).

    Example:
        >>> from solvent.__main__ import main
        >>> main(["check", "euclidean", "--shape", "3,2"])  # doctest: +ELLIPSIS
        conformance of 'euclidean':
        ...
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version (0) or a usage error (2)
        return int(exit_.code or 0)
    try:
        if args.command == "manifolds":
            print(manifold_table())
            return EXIT_OK
        if args.command == "check":
            return _check(args)
    except (UsageError, SolventError) as err:
        print(f"solvent: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _run() -> int:
    """main() for a terminal: a closed pipe (``python -m solvent manifolds | head``) is no error."""
    try:
        return main()
    except BrokenPipeError:
        # Python flushes stdout at exit and would report the broken pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(_run())
