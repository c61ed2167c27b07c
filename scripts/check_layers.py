"""Check that the package's imports go one way: down the layers, no cycles, no private names.

Reads the source with :mod:`ast` (nothing is imported, so it runs in a second) and prints
one line per problem, then a summary; exit status 1 when there is any problem::

    python scripts/check_layers.py            # the package beside this script
    python scripts/check_layers.py PATH       # the package at PATH (a happiness_index folder)

The layers, lowest first (``LAYERS``)::

    errors -> questionnaire -> reading -> survey -> index -> report

A module may import modules of its own layer and of the layers below it, never above.
``happiness_index/__init__.py`` (the public namespace) sits above every layer: it may
import anything, and a module may read only ``__version__`` from it. Every import
statement counts, also one deferred inside a function.

Problems reported:

* ``upward import``: a module imports one of a higher layer (or the package root);
* ``import cycle``: modules that import each other, directly or through others;
* ``private import``: a module imports a leading-underscore name of another module
  (``from .design import _helper``) or reads one from an imported module
  (``design._helper``), or imports a private module (``from . import _impl``);
* ``no layer``: a top-level module or subpackage missing from ``LAYERS``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "happiness_index"
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: the layers, lowest first: top-level module or subpackage name -> rank
LAYERS: dict[str, int] = {"errors": 0, "questionnaire": 1, "reading": 2, "survey": 3, "index": 4, "report": 5}
#: names a module may read from the package root (metadata, not code)
ROOT_NAMES_ALLOWED = frozenset({"__version__"})


def is_private(name: str) -> bool:
    """A leading single underscore (``_x``); dunders (``__version__``) are public."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class Module:
    """One module of the package, its imports and the module aliases it binds."""

    name: str
    path: Path
    is_package: bool
    imports: list[tuple[str, int]] = field(default_factory=list)  # (imported module, line)
    problems: list[str] = field(default_factory=list)

    @property
    def layer_key(self) -> str | None:
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else None


def discover(root: Path) -> dict[str, Module]:
    """Every ``.py`` file under ``root`` (the package folder) as a dotted module name."""
    mods: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        mods[".".join(parts)] = Module(".".join(parts), path, is_package)
    return mods


def _resolve_from(mod: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = mod.name.split(".")
    if not mod.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _scan(mod: Module, mods: dict[str, Module]) -> None:
    """Record ``mod``'s imports of the package, its private-name uses and its reads of the root.

    One walk over the syntax tree; private attributes of imported modules are checked once
    every alias is known (an alias may be bound after its first use, inside a function).
    """
    tree = ast.parse(mod.path.read_text(encoding="utf-8"), filename=str(mod.path))
    aliases: dict[str, str] = {}  # local name -> package module it is bound to
    private_attrs: list[ast.Attribute] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and is_private(node.attr):
                private_attrs.append(node)
        elif isinstance(node, ast.Import):
            _scan_import(mod, node, aliases)
        elif isinstance(node, ast.ImportFrom):
            _scan_import_from(mod, node, mods, aliases)
    for node in private_attrs:
        if node.value.id in aliases:
            target = aliases[node.value.id]
            mod.problems.append(f"private import: {mod.name}:{node.lineno} reads {node.attr} of {target}")


def _scan_import(mod: Module, node: ast.Import, aliases: dict[str, str]) -> None:
    for a in node.names:
        if a.name == PACKAGE and mod.name != PACKAGE:
            mod.problems.append(f"upward import: {mod.name}:{node.lineno} imports the package root {PACKAGE}")
        if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
            mod.imports.append((a.name, node.lineno))
            if a.asname:
                aliases[a.asname] = a.name
            _check_private_module(mod, a.name, node.lineno)


def _scan_import_from(mod: Module, node: ast.ImportFrom, mods: dict[str, Module], aliases: dict[str, str]) -> None:
    source = _resolve_from(mod, node)
    if not (source == PACKAGE or source.startswith(PACKAGE + ".")):
        return
    _check_private_module(mod, source, node.lineno)
    from_root = []  # names other than __version__ read from the package root
    for a in node.names:
        full = f"{source}.{a.name}"
        if full in mods:  # ``from . import design``: a module
            mod.imports.append((full, node.lineno))
            aliases[a.asname or a.name] = full
            if is_private(a.name):
                mod.problems.append(f"private import: {mod.name}:{node.lineno} imports private module {full}")
            continue
        mod.imports.append((source, node.lineno))
        if source == PACKAGE:
            if a.name not in ROOT_NAMES_ALLOWED:
                from_root.append(a.name)
            continue
        if is_private(a.name) and source != mod.name:
            mod.problems.append(f"private import: {mod.name}:{node.lineno} imports {a.name} from {source}")
    if from_root and mod.name != PACKAGE:
        names = ", ".join(from_root)
        mod.problems.append(f"upward import: {mod.name}:{node.lineno} reads {names} from the package root")


def _check_private_module(mod: Module, name: str, line: int) -> None:
    if any(is_private(p) for p in name.split(".")[1:]):
        mod.problems.append(f"private import: {mod.name}:{line} imports private module {name}")


def _rank(name: str) -> int | None:
    """The layer rank of a package module; the root is above every layer (``len(LAYERS)``)."""
    parts = name.split(".")
    if len(parts) == 1:
        return len(LAYERS)
    return LAYERS.get(parts[1])


def upward_imports(mods: dict[str, Module]) -> list[str]:
    """Problems for imports of a higher layer, and for modules outside every layer."""
    out = []
    for mod in mods.values():
        if mod.name == PACKAGE:
            continue
        if mod.layer_key not in LAYERS:
            out.append(f"no layer: {mod.name} ({mod.layer_key!r} is not in LAYERS of scripts/check_layers.py)")
            continue
        own = LAYERS[mod.layer_key]
        for target, line in mod.imports:
            rank = _rank(target)
            if target == PACKAGE:
                continue  # what is read from the root is checked in _scan (only ROOT_NAMES_ALLOWED)
            if rank is not None and rank > own:
                out.append(f"upward import: {mod.name}:{line} ({mod.layer_key}) imports {target}")
    return out


def cycles(mods: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (or one importing itself), sorted."""
    graph = {
        m.name: {t for t, _ in m.imports if t in mods and t != PACKAGE} for m in mods.values() if m.name != PACKAGE
    }
    # a module importing ``pkg.sub.mod`` also runs ``pkg.sub``'s __init__: that edge is not a cycle risk here
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def check(root: Path) -> list[str]:
    """Every problem of the package at ``root`` (a ``happiness_index`` folder), sorted by kind."""
    mods = discover(root)
    for mod in mods.values():
        _scan(mod, mods)
    problems = [p for m in mods.values() for p in m.problems]
    problems += upward_imports(mods)
    problems += [f"import cycle: {' <-> '.join(group)}" for group in cycles(mods)]
    return sorted(set(problems))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT, help="the happiness_index package folder")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if (root / PACKAGE).is_dir():  # given the repository root
        root = root / PACKAGE
    if not (root / "__init__.py").is_file():
        print(f"{root} is not a package folder (no __init__.py)", file=sys.stderr)
        return 2
    problems = check(root)
    for p in problems:
        print(p)
    n_mods = len(discover(root))
    layers = " -> ".join(sorted(LAYERS, key=LAYERS.get))
    print(f"{len(problems)} problem(s) in {n_mods} modules; layers {layers}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
