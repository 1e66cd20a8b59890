"""The shape of server/ that docs/architecture.md promises (the import layers themselves are
checked by `lint-imports`, which scripts/test runs): a reader finds a few entry modules at
the top, every other module in its layer, and no module too long to read in one sitting."""

from __future__ import annotations

from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"
LAYERS = {"cli", "core", "ws", "services", "web", "store", "data"}
MAX_MODULE_LINES = 500
MAX_TOP_MODULES = 8


def test_server_holds_few_modules_of_its_own() -> None:
    top = sorted(p.name for p in SERVER.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_every_folder_of_server_is_a_layer() -> None:
    folders = {p.name for p in SERVER.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == LAYERS


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(SERVER)): n
        for p in SERVER.rglob("*.py")
        if (n := len(p.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_modules_of_server_import_each_other_in_a_circle() -> None:
    """Modules of one layer may import each other (lint-imports allows it), but never both
    ways round: a circle (crisis <-> desk came back once through a type import) makes two
    modules one that nobody can read alone. Imports under TYPE_CHECKING count."""
    import importlib.util

    path = SERVER.parent / "scripts" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None and spec.loader is not None
    graph_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graph_tool)
    found = graph_tool.modules("server")
    graph = {name: graph_tool.imports(name, p, set(found)) for name, p in found.items()}
    circles = [group for group in graph_tool.strongly_connected(graph) if len(group) > 1]
    assert circles == []
