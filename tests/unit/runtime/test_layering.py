"""The import graph keeps the rooms of the house apart (docs/architecture.md).

Read with ``ast`` from every ``.py`` file of the project's packages, every import counted
(module level, inside functions, under ``TYPE_CHECKING``): a worker image must be able to run
without the command line and the developer tools, and a deployable's settings come from one place.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = (
    "schemas",
    "runtime",
    "processors",
    "verifier",
    "producers",
    "liveness",
    "devtools",
    "evaluation",
    "benchmarks",
)
# What a worker image runs, and what it must not need.
WORKER_LAYERS = ("schemas", "runtime", "processors", "verifier", "producers")
TOOLS = ("liveness", "devtools", "evaluation", "benchmarks")
# The one reader of the process environment.
ENVIRONMENT_READERS = ("runtime/settings.py",)

Graph = Mapping[str, frozenset[str]]  # file (relative path) -> top-level packages it imports


def _imported(tree: ast.AST) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return frozenset(name.split(".")[0] for name in names)


_ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb"})


def _is_environment_read(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in _ENVIRONMENT
    if isinstance(node, ast.ImportFrom):
        return node.module == "os" and bool({alias.name for alias in node.names} & _ENVIRONMENT)
    return False


def _reads_environment(tree: ast.AST) -> bool:
    return any(_is_environment_read(node) for node in ast.walk(tree))


def _project_files() -> dict[str, ast.AST]:
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(), str(path)) for path in files}


def import_graph(trees: Mapping[str, ast.AST]) -> dict[str, frozenset[str]]:
    return {path: _imported(tree) for path, tree in trees.items()}


def layering_violations(graph: Graph) -> list[str]:
    """Each import that crosses a wall, as ``file -> package``."""
    found = []
    for path, imported in sorted(graph.items()):
        package = path.split("/")[0]
        forbidden: set[str] = set()
        if package in WORKER_LAYERS:
            forbidden.update(TOOLS)
        if package in ("schemas", "runtime"):  # below the workers
            forbidden.update(("processors", "verifier", "producers"))
        if package == "schemas":
            forbidden.add("runtime")
        if package == "processors":
            forbidden.add("verifier")
        if package == "verifier":
            forbidden.add("processors")
        found.extend(f"{path} -> {name}" for name in sorted(imported & forbidden))
    return found


def environment_readers(trees: Mapping[str, ast.AST], allowed: Iterable[str]) -> list[str]:
    return sorted(path for path, tree in trees.items() if _reads_environment(tree) and path not in allowed)


def test_layering_workers_import_no_tool_and_processors_and_verifier_not_each_other() -> None:
    graph = import_graph(_project_files())
    assert "runtime" in graph["processors/agent.py"] and "schemas" in graph["verifier/session.py"]
    assert layering_violations(graph) == []


def test_layering_only_the_settings_module_reads_the_environment() -> None:
    trees = _project_files()
    assert "runtime/settings.py" in environment_readers(trees, allowed=())
    assert environment_readers(trees, ENVIRONMENT_READERS) == []


def test_layering_violations_found_in_a_graph_that_crosses_walls() -> None:
    graph = {
        "verifier/agent.py": frozenset({"runtime", "liveness", "processors"}),
        "producers/gateway/server.py": frozenset({"devtools", "schemas"}),
        "runtime/topics.py": frozenset({"verifier"}),
        "runtime/settings.py": frozenset({"producers", "schemas"}),
        "schemas/codec.py": frozenset({"runtime"}),
        "liveness/cli.py": frozenset({"devtools", "verifier", "processors"}),
    }
    assert layering_violations(graph) == [
        "producers/gateway/server.py -> devtools",
        "runtime/settings.py -> producers",
        "runtime/topics.py -> verifier",
        "schemas/codec.py -> runtime",
        "verifier/agent.py -> liveness",
        "verifier/agent.py -> processors",
    ]


def test_layering_environment_read_found_in_any_spelling() -> None:
    sources = {
        "a.py": "import os\nx = os.environ.get('X')",
        "b.py": "from os import getenv\nx = getenv('X')",
        "c.py": "import os\nx = os.getenv('X')",
        "d.py": "import os\nx = os.path.join('a')",
    }
    trees = {path: ast.parse(text) for path, text in sources.items()}
    assert environment_readers(trees, allowed=("c.py",)) == ["a.py", "b.py"]
