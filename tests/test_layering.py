"""The package's imports follow the layering drawn in the README, with no import cycle.

Every `import` and `from ... import` of artjax modules is read from the source (module level and
inside functions alike: a lazy import dodging a cycle is still a cycle)."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).parents[1]
PACKAGE = ROOT / "artjax"

# Top to bottom, as the README's architecture block draws them: a module may import its own
# layer and the layers below it.
LAYERS = [
    ("cli", ("artjax.main", "artjax.cli", "artjax.sweep", "artjax.predict", "artjax.embed", "artjax.evaluate",
             "artjax.report", "artjax.data.__main__", "artjax.weights.__main__", "artjax.export",
             "artjax.serve")),
    ("serving", ("artjax.serving",)),
    ("runs", ("artjax.runs",)),
    ("config", ("artjax.config",)),
    ("train", ("artjax.train",)),
    ("eval", ("artjax.eval",)),
    ("data", ("artjax.data",)),
    ("models", ("artjax.models",)),
    ("weights", ("artjax.weights",)),
    ("base", ("artjax.rundir", "artjax.runtime", "artjax")),
]
CLI_PLUMBING = "artjax.cli"  # shared by the commands; not a command itself


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: pathlib.Path, name: str, modules: dict[str, pathlib.Path]) -> set[str]:
    """The artjax modules `path` imports (a `from package import submodule` counts as the submodule)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.split(".")[0] == "artjax"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "artjax":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
    return {m for m in out if m in modules and m != name}


def _layer(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} belongs to no layer of tests/test_layering.py"
    return best[0]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_imports_follow_the_layers():
    wrong = []
    for module, imported in sorted(_graph().items()):
        for target in sorted(imported):
            if target == "artjax":
                continue
            if _layer(target) < _layer(module):
                wrong.append(f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})")
            elif LAYERS[_layer(module)][0] == "cli" and _layer(target) == 0 and target != CLI_PLUMBING:
                wrong.append(f"command {module} imports command {target}")
    assert not wrong, "imports against the README's layering:\n" + "\n".join(wrong)


def test_no_import_cycle():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_readme_draws_the_same_layers_in_the_same_order():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Architecture", 1)[1].split("```", 2)[1]
    rows = [line.split()[0].rstrip(",") for line in block.splitlines() if line.startswith("artjax/")]
    drawn = [re.sub(r"\.py$|/$", "", row).replace("/", ".") for row in rows]
    expected = [prefixes[0] for _, prefixes in LAYERS]
    assert drawn == expected, f"README architecture rows {drawn} != layers {expected}"
