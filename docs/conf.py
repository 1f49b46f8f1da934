"""Sphinx configuration of solvent's documentation (``make docs`` builds it into docs/_build).

The API reference is generated here, at every build, from the package itself: one
page per public package or module that declares ``__all__`` (``solvent`` and each
subpackage, ``solvent.testing``, ...), each an ``automodule`` whose members are that
``__all__``. A manifold, layer function or solver added to an ``__all__`` appears
without editing the docs; a name that is renamed or removed breaks the build (it runs
with warnings as errors).

Why Sphinx (with furo and myst-parser) rather than MkDocs: autodoc imports the package,
so the reference is what the code exports at run time (each ``__all__``, including the
names a package forwards lazily), with signatures from the live objects; napoleon reads
the Google docstrings the code already has; myst-parser includes the README's marked
sections and BENCHMARKS.md unchanged, so no text is kept twice. All of it installs from
PyPI and builds offline.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil

import solvent

HERE = pathlib.Path(__file__).resolve().parent

project = "solvent"
author = "the solvent developers"
release = solvent.__version__
version = release
copyright = "the solvent developers, MIT licence"  # noqa: A001 (Sphinx's name)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_api_templates", "*.json"]
html_theme = "furo"
html_title = f"solvent {release}"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Links from the included README/BENCHMARKS to repository files (examples/*.py,
# benchmarks/*.py) are not documents of the site; they stay plain links.
suppress_warnings = ["myst.xref_missing"]

# ---------------------------------------------------------------------- API pages
PRIVATE = ("_", "__main__", "pytest_plugin")


def public_modules() -> list[str]:
    """``solvent`` and every public package or module of it that declares ``__all__``,
    except modules whose names their package already exports (documented there)."""
    names = ["solvent"]
    for info in pkgutil.walk_packages(solvent.__path__, "solvent."):
        parts = info.name.split(".")
        if any(p.startswith(PRIVATE) for p in parts[1:]):
            continue
        module = importlib.import_module(info.name)
        exported = getattr(module, "__all__", None)
        parent = importlib.import_module(".".join(parts[:-1]))
        if exported is None or (not info.ispkg and set(exported) <= set(parent.__all__)):
            continue  # e.g. solvent.manifolds.stiefel: its Stiefel is on solvent.manifolds
        names.append(info.name)
    return names


def homes(modules: list[str]) -> dict[int, str]:
    """Where each exported object is documented: the shallowest module below ``solvent``
    that exports it (``solvent`` itself for what only it exports).

    ``solvent.constrain`` is documented once, as ``solvent.layers.constrain``, and listed
    with a link on the ``solvent`` page: one description per object keeps every
    cross-reference unambiguous.
    """
    home: dict[int, str] = {}
    for name in sorted(modules, key=lambda m: -m.count(".")):  # deepest first
        module = importlib.import_module(name)
        for member in module.__all__:
            obj = getattr(module, member)
            if not inspect.ismodule(obj) and (name != "solvent" or id(obj) not in home):
                home[id(obj)] = name  # shallower modules come later and win
    return home


DIRECTIVES = {"class": "autoclass", "function": "autofunction", "data": "autodata"}


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "class"
    return "function" if callable(obj) else "data"


def module_page(name: str, home: dict[int, str], pages: list[str]) -> str:
    module = importlib.import_module(name)
    title = f"``{name}``"
    own, elsewhere, submodules = [], [], []
    for member in module.__all__:
        obj = getattr(module, member)
        if inspect.ismodule(obj):
            link = f":doc:`{obj.__name__}`" if obj.__name__ in pages else f"``{obj.__name__}``"
            submodules.append(f"- {link}")
        elif home.get(id(obj)) == name:
            own.append(f".. {DIRECTIVES[_kind(obj)]}:: {name}.{member}\n")
        else:
            kind = {"class": "class", "function": "func", "data": "data"}[_kind(obj)]
            target = home[id(obj)]
            elsewhere.append(f"- :py:{kind}:`{member} <{target}.{member}>` "
                             f"(from :doc:`{target}`)")
    lines = [title, "=" * len(title), "", f".. automodule:: {name}", "   :no-members:"]
    parent, _, last = name.rpartition(".")
    if parent and not inspect.ismodule(getattr(importlib.import_module(parent), last, None)):
        lines.append("   :no-index:")  # solvent.optim.minimize: a module named as a function
    lines.append("")
    if submodules:
        lines += ["Subpackages:", "", *submodules, ""]
    if elsewhere:
        lines += ["Also exported here:", "", *elsewhere, ""]
    return "\n".join(lines + own)


def write_api_pages() -> None:
    api = HERE / "api"
    api.mkdir(exist_ok=True)
    for old in api.glob("*.rst"):
        old.unlink()
    modules = public_modules()
    home = homes(modules)
    for name in modules:
        (api / f"{name}.rst").write_text(module_page(name, home, modules))
    toc = "\n".join(f"   {name}" for name in modules)
    (api / "index.rst").write_text(
        "API reference\n=============\n\n"
        "Generated from the docstrings: one page per public package or module, listing\n"
        "the names in its ``__all__``.\n\n"
        f".. toctree::\n   :maxdepth: 1\n\n{toc}\n"
    )


def module_docstrings_verbatim(app, what, name, obj, options, lines) -> None:
    """Module docstrings here are plain text carrying the long Notes (``# Note [...]``
    blocks); they are shown as written, in a literal block, not parsed as markup.
    Constants keep only a docstring of their own."""
    if what == "module" and lines:
        lines[:] = ["::", ""] + [f"   {line}" for line in lines] + [""]
    elif what == "data" and "\n".join(lines).strip() == inspect.getdoc(type(obj)):
        lines[:] = []  # a constant without its own doc: not its type's (dict's) docstring


def setup(app) -> None:
    app.connect("autodoc-process-docstring", module_docstrings_verbatim)


write_api_pages()
