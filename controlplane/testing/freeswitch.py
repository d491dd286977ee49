"""Run a real FreeSWITCH on loopback from a rendered config (tests and the lab); nothing here runs in production.

The binary is ``$FREESWITCH_BIN`` or ``freeswitch`` on PATH. Every runtime directory lives under one work dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from controlplane.errors import NodeError
from controlplane.esl.nodes import NodeAddress
from controlplane.freeswitch.esl_client import api
from controlplane.freeswitch.render import render
from controlplane.settings import Settings
from controlplane.testing.net import free_port

NOT_INSTALLED = "FreeSWITCH is not installed on this machine (no `freeswitch` on PATH and FREESWITCH_BIN unset)"


def freeswitch_binary() -> str | None:
    env = os.environ.get("FREESWITCH_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("freeswitch")



class LocalFreeSwitch:
    """FreeSWITCH started with ``-nonat -nf -nc`` and the config rendered from ``settings`` into ``workdir``."""

    def __init__(self, settings: Settings, workdir: str | Path, node_name: str = "fs-test") -> None:
        self.binary = freeswitch_binary()
        if not self.binary:
            raise RuntimeError(NOT_INSTALLED)
        self.workdir = Path(workdir)
        self.settings = replace(settings, esl_port=settings.esl_port or free_port())
        self.node_name = node_name
        self.proc: subprocess.Popen | None = None

    @property
    def esl_port(self) -> int:
        return self.settings.esl_port

    def dirs(self) -> dict[str, Path]:
        return {d: self.workdir / d for d in ("conf", "log", "db", "run", "temp", "storage", "cache", "recordings",
                                             "sounds", "mod_unused")}

    def start(self, timeout: float = 30.0) -> LocalFreeSwitch:
        d = self.dirs()
        for p in d.values():
            p.mkdir(parents=True, exist_ok=True)
        render(self.settings, d["conf"], node_name=self.node_name, state_dir=self.workdir / "var")
        args = [self.binary, "-nonat", "-nf", "-nc", "-conf", str(d["conf"]), "-log", str(d["log"]),
                "-db", str(d["db"]), "-run", str(d["run"]), "-temp", str(d["temp"]), "-storage", str(d["storage"]),
                "-cache", str(d["cache"]), "-recordings", str(d["recordings"]), "-sounds", str(d["sounds"])]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"freeswitch exited {self.proc.returncode}; see {d['log']}/freeswitch.log")
            try:
                if "UP" in self.api("status"):
                    return self
            except (OSError, NodeError):  # not listening yet
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"freeswitch did not answer ESL on 127.0.0.1:{self.esl_port} within {timeout}s")

    def api(self, command: str) -> str:
        return api(NodeAddress(self.node_name, "127.0.0.1", self.esl_port, self.settings.esl_password), command)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
