"""The package's layout stays readable: no two modules of ``mmer`` import each other, at the top
level or inside functions (a cycle means the split between them is in the wrong place), and the
service sits on the library, installed beside it, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmer"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The ``mmer`` modules ``path`` imports, anywhere in it (``from mmer.x import y`` counts ``mmer.x.y``
    if that is a module, else ``mmer.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("mmer"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mmer.")}
    return found & modules


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    # A package's __init__ re-exporting its own modules is not a cycle between concerns.
    return {name: {m for m in imports(path, modules) if m != name and not name.startswith(m + ".")
                   and not (path.name == "__init__.py" and m.startswith(name + "."))}
            for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_two_mmer_modules_import_each_other() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_the_library_never_imports_the_service() -> None:
    """The service (mmer_api, in back-end/) is a thin layer over the library; the library stands alone."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(PACKAGE.parent)}: {n}" for n in names if n.split(".")[0] == "mmer_api"]
    assert offenders == []


def test_the_service_is_an_installed_package_not_a_folder_on_the_path() -> None:
    import importlib.util
    import sys

    spec = importlib.util.find_spec("mmer_api")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).parent == PACKAGE.parent / "back-end" / "mmer_api"
    assert str(PACKAGE.parent / "back-end") not in sys.path  # found through the install, not pytest's path
