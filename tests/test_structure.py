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
