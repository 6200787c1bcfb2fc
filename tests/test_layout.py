"""The layout keeps its promises (stylelab/__init__.py): the packages build on each other in one
order, no module imports itself in a circle, no private name crosses a module boundary, and every
module says what it is for."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stylelab"
# The order of stylelab/__init__.py's list: a module imports only from its own rank or above.
# (The package itself imports the backend and the layers: its version is for everyone.)
# layers.fast stands between the readable layers and the networks: it may use the readable
# layers' public helpers, and they import nothing from it.
RANKS = {"backend": 0, "profile": 0, "__init__": 1, "layers": 1, "layers.fast": 1.5, "nets": 2,
         "optim": 2, "files": 3, "gatys": 4, "johnson": 5, "universal": 6, "batch": 6.5, "cli": 7,
         "__main__": 8}


def modules():
    """{dotted name: path} of every module in the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports_of(name, path):
    """[(imported module, imported names)] of one module, lazy imports inside functions included."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("stylelab")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("stylelab"):
                out.append((target, [a.name for a in node.names]))
    return out


def edges():
    """{module: set of modules it imports}; ``from pkg import submodule`` is an edge to the submodule."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for target, names in imports_of(name, path):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            targets.update(subs or [target])
            if subs and len(subs) < len(names):
                targets.add(target)
        graph[name] = targets - {name}
    return graph


def test_every_module_says_what_it_is_for():
    for name, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc) > 20, f"{name} has no module docstring"


def test_no_import_cycles():
    graph = edges()
    done, stack = set(), []

    def visit(node):
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done or node not in graph:
            return
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()
        done.add(node)
    for node in sorted(graph):
        visit(node)


def rank(name):
    parts = name.split(".")
    if parts[1:3] == ["layers", "fast"]:
        return RANKS["layers.fast"]
    return RANKS[parts[1]] if len(parts) > 1 else RANKS["__init__"]


def upward(graph):
    """Every import in `graph` of a module ranked below the importer."""
    return [f"{a} imports {b}" for a, targets in graph.items() for b in targets
            if rank(b) > rank(a)]


def test_each_package_imports_only_the_ones_below_it():
    wrong = upward(edges())
    assert not wrong, wrong


def test_the_readable_layers_import_nothing_fast():
    graph = edges()
    assert not [b for a in graph if rank(a) == RANKS["layers"] for b in graph[a]
                if b.startswith("stylelab.layers.fast")]
    # The check sees the old two-way layering: the readable conv importing the conv table.
    graph["stylelab.layers.conv"] = graph["stylelab.layers.conv"] | {"stylelab.layers.fast.table"}
    assert upward(graph) == ["stylelab.layers.conv imports stylelab.layers.fast.table"]


def test_no_private_names_cross_modules():
    crossing = [f"{name} imports {target}.{n}" for name, path in MODULES.items()
                for target, names in imports_of(name, path) for n in names
                if n.startswith("_") and not n.endswith("__") and target != name]
    assert not crossing, crossing


def test_the_checks_would_see_a_cycle_and_a_private_import(tmp_path):
    # The parser the tests above rely on, on two modules written for it.
    (tmp_path / "a.py").write_text('"""A."""\nfrom .b import _hidden\n')
    found = imports_of("stylelab.x.a", tmp_path / "a.py")
    assert found == [("stylelab.x.b", ["_hidden"])]
