"""The house's shape (issue 23): the import graph between DigitRec's own modules, its cycles, the imports that run
from the core into a front end, the largest modules and the longest functions.

Every import counts, wherever it stands (inside a function, under `if TYPE_CHECKING:`): an import moved into a
function to dodge a cycle is still a cycle in the design. `from package import name` counts as an import of
`package.name` when that is a module, else of the package.

    python bench/house.py [--most 5]

Prints markdown: the counts, each cycle, each upward import, the largest modules (lines) and the longest functions
(lines, decorators and docstring included), and the command line. tests/test_layout.py holds the rules.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("digitrec_core", "digitrec_cli", "digitrec_app", "digitrec")
CORE = "digitrec_core"  # imports neither front end: the CLI and the dashboard are built on it


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def lines(self) -> int:
        return len(self.path.read_text(encoding="utf-8").splitlines())


def modules(root: Path = ROOT) -> dict[str, Module]:
    """Every .py file of DigitRec's packages, by dotted name (a package's __init__ by the package's name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = Module(name, path)
    return found


def imports(module: Module, known: dict[str, Module]) -> set[str]:
    """The DigitRec modules `module` imports, anywhere in its source."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module: its nearest module
                target = target.rpartition(".")[0]
            if target and target != module.name:
                out.add(target)
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(m, known) for name, m in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every cycle is in one."""
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(core module, front-end module) for each import from the core into the CLI or the dashboard."""
    return sorted((a, b) for a, targets in edges.items() if a.split(".")[0] == CORE
                  for b in targets if b.split(".")[0] != CORE)


def functions(root: Path = ROOT) -> list[tuple[int, str]]:
    """(lines, `module.qualified_name`) of every function and method."""
    out = []
    for name, m in modules(root).items():
        def walk(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    qual = f"{prefix}.{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                        out.append((child.end_lineno - first + 1, qual))
                    walk(child, qual)

        walk(ast.parse(m.path.read_text(encoding="utf-8")), name)
    return sorted(out, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--most", type=int, default=5, help="how many of the largest modules and longest functions")
    args = ap.parse_args()
    edges = graph()
    found, up = cycles(edges), upward(edges)
    sizes = sorted(((m.lines, n) for n, m in modules().items()), reverse=True)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports between them: "
          f"**{len(found)} cycles**, **{len(up)} imports from the core into a front end**\n")
    for c in found:
        print(f"- cycle: {' <-> '.join(c)}")
    for a, b in up:
        print(f"- upward: {a} -> {b}")
    print("\n| largest modules | lines |\n| --- | ---: |")
    for n, name in sizes[: args.most]:
        print(f"| {name} | {n} |")
    print("\n| longest functions | lines |\n| --- | ---: |")
    for n, name in functions()[: args.most]:
        print(f"| {name} | {n} |")
    print(f"\n`python bench/house.py{' --most ' + str(args.most) if args.most != 5 else ''}`")


if __name__ == "__main__":
    main()
