"""The layers keep their rules: the core imports nothing but the standard library and itself; services never
import a web framework, an event loop, an ESL library or a Redis client (adapters and live state do)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "controlplane"
FORBIDDEN_IN_SERVICES = {"flask", "flask_sqlalchemy", "gevent", "greenswitch", "redis", "ESL"}


def imports(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (absolute imports; relative ones are within the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_core_is_pure(path: Path):
    outside = {name for name in imports(path)
               if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "__future__"
               and not (name == "controlplane.core" or name.startswith("controlplane.core."))}
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.name)
def test_services_import_no_adapter_library(path: Path):
    bad = {name for name in imports(path) if name.split(".")[0] in FORBIDDEN_IN_SERVICES}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_checks_can_fail(tmp_path: Path):
    sample = tmp_path / "m.py"
    sample.write_text("import redis\nfrom controlplane.db import x\nfrom . import y\n")
    assert imports(sample) == {"redis", "controlplane.db"}
