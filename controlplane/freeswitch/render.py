"""Render a media node's FreeSWITCH configuration from settings: pure text substitution, no I/O but the writes.

Templates are the files under ``freeswitch-conf/`` and ``dialplan/``, found by controlplane.config_templates (the
installed package's copy, or the checkout's top-level folders). A template names a value as ``{{name}}``; every
value is XML-escaped; an unknown name is an error. FreeSWITCH's own ``$${var}`` / ``${var}`` syntax is left alone
(the templates do not use it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from controlplane.config_templates import template_dir
from controlplane.settings import Settings

TEMPLATE_DIRS = {"freeswitch-conf": "", "dialplan": "dialplan"}  # template dir -> subdir of the rendered conf
CDR_PATH = "/api/v1/cdr/freeswitch"
PROFILE = "controlplane"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value, default_port
    return host.strip("[]"), int(port)


def _cidrs(settings: Settings) -> list[str]:
    host, _ = split_hostport(settings.kamailio_sip, 5060)
    out = []
    for item in [host, *[x.strip() for x in settings.kamailio_acl.split(",") if x.strip()]]:
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:  # a host name: FreeSWITCH ACLs take addresses, so resolve it now
            net = ipaddress.ip_network(socket.gethostbyname(item))
        if str(net) not in out:
            out.append(str(net))
    return out


@dataclass(frozen=True)
class NodeConfig:
    """Every value the templates use, derived from settings (plus a state dir for the CDR spool)."""

    values: dict[str, str]
    raw: frozenset[str]  # names whose value is already XML (not escaped)


def node_values(settings: Settings, state_dir: str, node_name: str | None = None) -> NodeConfig:
    name = node_name or settings.node_name
    ctl_host, ctl_port = split_hostport(settings.controller_listen, 8084)
    acl = "\n".join(f'        <node type="allow" cidr={quoteattr(c)}/>' for c in _cidrs(settings))
    cred = ""
    user, password = settings.cdr_user, settings.cdr_password
    if user:
        cred = ('      <param name="auth-scheme" value="basic"/>\n'
                f'      <param name="cred" value={quoteattr(f"{user}:{password}")}/>')
    values = {
        "node_name": name, "profile": PROFILE,
        "sip_ip": settings.freeswitch_sip_ip, "sip_port": str(settings.freeswitch_sip_port),
        "rtp_ip": settings.freeswitch_sip_ip, "codecs": "PCMU,PCMA,OPUS,G729",
        "esl_ip": "127.0.0.1", "esl_port": str(settings.esl_port), "esl_password": settings.esl_password,
        "controller": f"{ctl_host}:{ctl_port}",
        "kamailio_host": split_hostport(settings.kamailio_sip, 5060)[0],
        "kamailio_port": str(split_hostport(settings.kamailio_sip, 5060)[1]),
        "kamailio_acl_nodes": acl,
        "cdr_url": settings.web_url.rstrip("/") + CDR_PATH, "cdr_auth": cred,
        "cdr_retries": "3", "cdr_delay": "5", "cdr_timeout": "10",
        "cdr_err_dir": str(Path(state_dir) / "json_cdr"),
        "max_sessions": "2000", "sessions_per_second": "300", "rtp_start_port": "16384", "rtp_end_port": "32768",
    }
    return NodeConfig(values, frozenset({"kamailio_acl_nodes", "cdr_auth"}))


def render_text(template: str, cfg: NodeConfig) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in cfg.values:
            raise KeyError(f"template uses unknown value {{{{{key}}}}}")
        val = cfg.values[key]
        return val if key in cfg.raw else escape(val, {'"': "&quot;"})

    return _PLACEHOLDER.sub(sub, template)


def _xml_files(folder: Traversable, rel: Path = Path()) -> Iterator[tuple[Path, Traversable]]:
    """Every ``*.xml`` under folder with its relative path, in name order (a Traversable has no rglob)."""
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.is_dir():
            yield from _xml_files(item, rel / item.name)
        elif item.name.endswith(".xml"):
            yield rel / item.name, item


def render(settings: Settings, out_dir: str | Path, node_name: str | None = None,
           state_dir: str | Path | None = None) -> list[Path]:
    """Write the node's config tree into ``out_dir`` (freeswitch.xml at its top); return the files written."""
    out = Path(out_dir)
    cfg = node_values(settings, str(Path(state_dir or out / "var").resolve()), node_name)
    written = []
    for tdir, sub in TEMPLATE_DIRS.items():
        for rel, src in _xml_files(template_dir(tdir)):
            dest = out / sub / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(render_text(src.read_text(encoding="utf-8"), cfg), encoding="utf-8")
            written.append(dest)
    return written
