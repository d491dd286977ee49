"""`controlplane freeswitch render`: the files parse, point at the controller, Kamailio and the CDR endpoint;
a real FreeSWITCH loads them when one is installed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from controlplane.cli import main
from controlplane.core.routing import TrunkInfo
from controlplane.freeswitch.dial_strings import DialStrings
from controlplane.freeswitch.render import render
from controlplane.settings import Settings
from controlplane.testing.freeswitch import NOT_INSTALLED, LocalFreeSwitch, freeswitch_binary
from controlplane.testing.net import free_port

EXPECTED = {"freeswitch.xml", "dialplan/controlplane.xml", "autoload_configs/modules.conf.xml",
            "autoload_configs/event_socket.conf.xml", "autoload_configs/sofia.conf.xml",
            "autoload_configs/acl.conf.xml", "autoload_configs/json_cdr.conf.xml", "autoload_configs/switch.conf.xml"}


def _settings(**kw) -> Settings:
    base = Settings(kamailio_sip_override="10.0.0.5:5060", kamailio_acl="10.0.1.0/24", controller_host="10.0.0.9",
                    controller_port=9000,
                    web_url="https://portal.example.net/", freeswitch_sip_port=5090, esl_port=8022,
                    esl_password="s3cret&<x>", node_name="media-7", cdr_user="fs", cdr_password="pw")
    return replace(base, **kw)


def _params(root: ET.Element, path: str) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in root.iterfind(path)}


def _parse(out: Path, rel: str) -> ET.Element:
    return ET.parse(out / rel).getroot()


def test_rendered_files_parse_and_carry_the_settings(tmp_path: Path) -> None:
    written = render(_settings(), tmp_path, state_dir=tmp_path / "state")
    rels = {str(p.relative_to(tmp_path)) for p in written}
    assert EXPECTED <= rels
    for p in written:
        ET.parse(p)  # every file is well-formed XML

    action = _parse(tmp_path, "dialplan/controlplane.xml").find(".//context[@name='controlplane']//action")
    assert action.get("application") == "socket" and action.get("data") == "10.0.0.9:9000 async full"

    acl = _parse(tmp_path, "autoload_configs/acl.conf.xml").find(".//list[@name='kamailio']")
    assert acl.get("default") == "deny"
    assert [n.get("cidr") for n in acl.iterfind("node")] == ["10.0.0.5/32", "10.0.1.0/24"]

    prof = _parse(tmp_path, "autoload_configs/sofia.conf.xml").find(".//profile[@name='controlplane']")
    sp = _params(prof, "settings/param")
    assert sp["apply-inbound-acl"] == "kamailio" and sp["context"] == "controlplane" and sp["sip-port"] == "5090"
    assert sp["disable-register"] == "true" and sp["auth-calls"] == "false"

    cdr = _params(_parse(tmp_path, "autoload_configs/json_cdr.conf.xml"), ".//settings/param")
    assert cdr["url"] == "https://portal.example.net/api/v1/cdr/freeswitch"
    assert cdr["encode-values"] == "true" and cdr["log-b-leg"] == "false" and int(cdr["retries"]) >= 1
    assert cdr["err-log-dir"] == str((tmp_path / "state" / "json_cdr").resolve())
    assert cdr["auth-scheme"] == "basic" and cdr["cred"] == "fs:pw"

    esl = _params(_parse(tmp_path, "autoload_configs/event_socket.conf.xml"), ".//settings/param")
    assert esl["listen-ip"] == "127.0.0.1" and esl["listen-port"] == "8022" and esl["password"] == "s3cret&<x>"

    core = _params(_parse(tmp_path, "autoload_configs/switch.conf.xml"), ".//settings/param")
    assert core["switchname"] == "media-7"
    mods = [m.get("module") for m in _parse(tmp_path, "autoload_configs/modules.conf.xml").iter("load")]
    for m in ("mod_event_socket", "mod_sofia", "mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_json_cdr"):
        assert m in mods


def test_no_credentials_means_no_auth_params(tmp_path: Path) -> None:
    render(_settings(cdr_user=""), tmp_path)
    cdr = _params(_parse(tmp_path, "autoload_configs/json_cdr.conf.xml"), ".//settings/param")
    assert "cred" not in cdr and "auth-scheme" not in cdr


def test_carrier_legs_route_through_kamailio() -> None:
    settings = _settings()
    dial = DialStrings(settings.fs_profile, settings.kamailio_sip, 30)
    trunk = TrunkInfo(7, "carrier-x", "X", host="198.51.100.7", port=5060)
    assert dial.carrier("+4930999001", trunk, None, None) == (
        "[sip_h_X-CP-Route=carrier,sip_h_X-CP-Trunk=7,leg_timeout=30]"
        "sofia/controlplane/+4930999001@198.51.100.7:5060;fs_path=sip:10.0.0.5:5060%3Blr")


def test_cli_writes_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_CONTROLLER_HOST", "127.0.0.1")
    monkeypatch.setenv("CP_CONTROLLER_PORT", "8999")
    monkeypatch.setenv("CP_WEB_URL", "http://127.0.0.1:8181")
    out = tmp_path / "node"
    res = CliRunner().invoke(main, ["freeswitch", "render", "--out", str(out), "--node-name", "fs-cli"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output
    data = _parse(out, "dialplan/controlplane.xml").find(".//action").get("data")
    assert data == "127.0.0.1:8999 async full"
    assert _params(_parse(out, "autoload_configs/switch.conf.xml"), ".//param")["switchname"] == "fs-cli"
    cdr = _params(_parse(out, "autoload_configs/json_cdr.conf.xml"), ".//param")
    assert cdr["url"] == "http://127.0.0.1:8181/api/v1/cdr/freeswitch"


@pytest.mark.skipif(freeswitch_binary() is None, reason=NOT_INSTALLED)
def test_real_freeswitch_loads_the_rendered_config(tmp_path: Path) -> None:
    settings = Settings(kamailio_sip_override="127.0.0.1:5060", esl_port=free_port(), freeswitch_sip_port=free_port())
    fs = LocalFreeSwitch(settings, tmp_path).start()
    try:
        assert "UP" in fs.api("status")
        assert "controlplane" in fs.api("sofia status")
        assert fs.api("module_exists mod_json_cdr") == "true"
    finally:
        fs.stop()
