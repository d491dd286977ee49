"""The built wheel: production code and the config templates, no test support; installed from it into a fresh
venv, `controlplane kamailio render` and `controlplane freeswitch render` work outside a checkout.

The wheel is built from a copy of the checkout (a shared build/ left by an earlier build could slip stale files into
it, and two runs could race on it), with the repository venv's setuptools (no isolated build env to download). The
fresh venv gets the wheel and its dependencies from the package index, as an operator's `pip install` would.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from controlplane.config_templates import TEMPLATE_DIRS

ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache")


def _run(args: list, **kw) -> subprocess.CompletedProcess[str]:  # noqa: ANN003
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=240, **kw)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", base / "dist", "."],
         cwd=src)
    (built,) = (base / "dist").glob("controlplane-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its dependencies; returns its bin/ directory."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    # this venv's pip installs into the new one (--python): no ensurepip run
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
          "--disable-pip-version-check", "--prefer-binary", wheel])
    return venv / "bin"


def _outside_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(CP_KAMAILIO_RUN_DIR=str(tmp / "run"), CP_KAMAILIO_SIP_PORT="5999", CP_ESL_PORT="8123",
               CP_ESL_PASSWORD="wheel-secret", CP_NODE_NAME="wheel-node")
    return env


def test_wheel_ships_templates_and_no_test_support(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for name in names:
            assert not name.startswith(("fs_standin/", "controlplane/testing/", "tests/", "bench/")), name
        # every file of the top-level template folders, byte for byte (they are the one source of truth)
        for folder in TEMPLATE_DIRS:
            files = [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
            assert files, folder
            for p in files:
                packaged = f"controlplane/_templates/{p.relative_to(ROOT).as_posix()}"
                assert packaged in names, packaged
                assert z.read(packaged) == p.read_bytes(), packaged
    assert "controlplane/config_templates.py" in names


def test_installed_wheel_renders_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    env, cwd = _outside_env(tmp_path), tmp_path / "elsewhere"
    cwd.mkdir()
    where = _run([installed / "python", "-c",
                  "from controlplane.config_templates import template_dir; print(template_dir('kamailio-cfg'))"],
                 cwd=cwd, env=env).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(ROOT)), where

    cfg = tmp_path / "out" / "kamailio.cfg"
    _run([installed / "controlplane", "kamailio", "render", "--out", cfg], cwd=cwd, env=env)
    text = cfg.read_text()
    assert "route[WITHINDLG]" in text and "request_route" in text
    assert "(rendered by `controlplane kamailio render`)" in text and '#!substdef "!CP_SIP_PORT!5999!g"' in text
    assert "#!define WITH_TLS" in text and (tmp_path / "run" / "tls.crt").exists()  # TLS on by default

    conf = tmp_path / "fs"
    _run([installed / "controlplane", "freeswitch", "render", "--out", conf], cwd=cwd, env=env)
    for p in conf.rglob("*.xml"):
        assert "{{" not in p.read_text(), p
        ET.parse(p)
    esl = {e.get("name"): e.get("value") for e in
           ET.parse(conf / "autoload_configs/event_socket.conf.xml").getroot().iterfind(".//param")}
    assert esl["listen-port"] == "8123" and esl["password"] == "wheel-secret"
    assert ET.parse(conf / "autoload_configs/sofia.conf.xml").getroot().find(".//profile[@name='controlplane']") \
        is not None
    switch = {e.get("name"): e.get("value") for e in
              ET.parse(conf / "autoload_configs/switch.conf.xml").getroot().iterfind(".//param")}
    assert switch["switchname"] == "wheel-node"
    assert ET.parse(conf / "dialplan/controlplane.xml").getroot().find(".//action[@application='socket']") \
        is not None


def test_production_code_imports_no_test_support() -> None:
    """Nothing shipped imports the stand-in or controlplane.testing (neither is in the wheel)."""
    bad = []
    for path in sorted((ROOT / "controlplane").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("controlplane", "testing"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{rel}:{node.lineno} {m}" for m in mods
                    if m.split(".")[0] == "fs_standin" or m == "controlplane.testing"
                    or m.startswith("controlplane.testing.")]
    assert not bad, bad
