"""The documentation site builds, with warnings as errors, and documents the public API.

The API pages are generated from the package at build time (``docs/conf.py``), so a
renamed or removed function, or a docstring that is not valid markup, fails here
rather than on a reader's screen. The build takes ~15 s on two cores.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import solvent

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def public_packages() -> list[str]:
    names = ["solvent"]
    for info in pkgutil.walk_packages(solvent.__path__, "solvent."):
        if info.ispkg and not any(p.startswith("_") for p in info.name.split(".")[1:]):
            names.append(info.name)
    return names


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-E",
         str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, f"sphinx-build failed:\n{run.stdout}\n{run.stderr}"
    return out


def documented_ids(html: pathlib.Path) -> set[str]:
    ids: set[str] = set()
    for page in (html / "api").glob("*.html"):
        ids.update(re.findall(r'<dt class="sig[^"]*" id="([\w.]+)"', page.read_text()))
    return ids


def test_docs_build_without_warnings_and_have_every_page(built):
    for page in ("index", "getting-started", "guide/layers", "guide/solvers", "guide/plugins",
                 "guide/migrating", "guide/manifolds", "examples", "benchmarks", "api/index"):
        assert (built / f"{page}.html").is_file(), page
    assert "Migrating from geotorch" in (built / "guide" / "migrating.html").read_text()


@pytest.mark.parametrize("package", public_packages())
def test_every_exported_name_is_documented(built, package):
    ids = documented_ids(built)
    module = importlib.import_module(package)
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        # documented once, under any module that exports the same object
        if not any(i.rpartition(".")[2] == name and _resolve(i) is obj for i in ids):
            missing.append(name)
    assert not missing, f"{package}.__all__ names without an API entry: {missing}"


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
