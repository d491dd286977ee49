"""`controlplane node ...`: media nodes in our table, in Kamailio's dispatcher table, and as ESL addresses."""

from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from controlplane.cli import main
from controlplane.esl.nodes import NodeAddress
from controlplane.kamailio.tables import T_DISPATCHER
from controlplane.models import AuditLog, MediaNode, Status
from controlplane.services.nodes import add_node, node_addresses, parse_host_port, set_status
from controlplane.services.scope import Scope


def cp(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    result.returncode = result.exit_code
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def no_kamailio(clean_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kamailio's JSON-RPC on a port nobody listens on: the reload fails, quickly."""
    monkeypatch.setenv("CP_KAMAILIO_RPC_IP", "127.0.0.1")
    monkeypatch.setenv("CP_KAMAILIO_RPC_PORT", str(closed_port()))
    monkeypatch.setenv("CP_KAMAILIO_RPC_TIMEOUT", "1")


def dispatcher(session) -> list[tuple[str, str, str]]:
    session.commit()  # see what the command committed
    return sorted((r.description, r.destination, r.attrs)
                  for r in session.execute(select(T_DISPATCHER.c.description, T_DISPATCHER.c.destination,
                                                  T_DISPATCHER.c.attrs)))


def test_add_list_disable_enable_and_the_dispatcher_follows(no_kamailio, session) -> None:
    added = cp("node", "add", "--name", "fs-a", "--sip", "10.0.0.5", "--esl", "10.9.0.5:8022",
               "--esl-password", "s3cret", "--weight", "30")
    assert added.returncode == 0, added.output
    assert "added media node 'fs-a'" in added.stdout
    # Kamailio is down: one warning line, not a failure, and the table is written anyway.
    assert added.stderr.count("\n") == 1 and added.stderr.startswith("warning: kamailio tables written")
    assert cp("node", "add", "--name", "fs-b", "--sip", "fs-b.example.net:5080", "--transport", "tcp").returncode == 0
    node_a = session.scalar(select(MediaNode).where(MediaNode.name == "fs-a"))
    assert (node_a.host, node_a.port, node_a.esl_host, node_a.esl_port) == ("10.0.0.5", 5060, "10.9.0.5", 8022)
    node_b = session.scalar(select(MediaNode).where(MediaNode.name == "fs-b"))
    assert dispatcher(session) == [
        ("fs-a", "sip:10.0.0.5:5060", f"weight=30;duid=node-{node_a.id}"),
        ("fs-b", "sip:fs-b.example.net:5080;transport=tcp", f"weight=50;duid=node-{node_b.id}"),
    ]

    listed = json.loads(cp("node", "list", "--json").stdout)
    assert listed == [
        {"name": "fs-a", "status": "active", "sip": "10.0.0.5:5060", "transport": "udp", "weight": 30,
         "esl": "10.9.0.5:8022", "esl_password_set": True},
        {"name": "fs-b", "status": "active", "sip": "fs-b.example.net:5080", "transport": "tcp", "weight": 50,
         "esl": "fs-b.example.net:8021", "esl_password_set": False},
    ]
    table = cp("node", "list").stdout
    assert table.splitlines()[0].split() == ["NAME", "STATUS", "SIP", "TRANSPORT", "WEIGHT", "ESL"]
    assert "s3cret" not in table and "2 media node(s)" in table

    disabled = cp("node", "disable", "fs-a")
    assert disabled.returncode == 0 and "media node 'fs-a' disabled" in disabled.stdout
    assert [d for d, _, _ in dispatcher(session)] == ["fs-b"]
    assert "fs-a  disabled" in cp("node", "list").stdout
    assert "already" in cp("node", "disable", "fs-a").stdout
    assert cp("node", "enable", "fs-a").returncode == 0
    assert [d for d, _, _ in dispatcher(session)] == ["fs-a", "fs-b"]
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity == "media_node").order_by(AuditLog.id))
    assert list(actions) == ["media_node.create", "media_node.create", "media_node.disable", "media_node.enable"]
    assert all("s3cret" not in json.dumps(a.details) for a in session.scalars(select(AuditLog)))


def test_duplicate_name_is_refused_and_changes_nothing(no_kamailio, session) -> None:
    assert cp("node", "add", "--name", "fs-a", "--sip", "10.0.0.5").returncode == 0
    before = dispatcher(session)
    result = cp("node", "add", "--name", "fs-a", "--sip", "10.0.0.6")
    assert result.returncode == 5  # a conflict: well-formed input naming what exists
    assert result.stderr == "error: name: media node 'fs-a' exists already\n"
    assert session.scalar(select(func.count()).select_from(MediaNode)) == 1
    assert dispatcher(session) == before


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("--name", "fs a", "--sip", "10.0.0.1"), "name:", 2),
        (("--name", "fs-x", "--sip", "bad host!"), "sip:", 2),
        (("--name", "fs-x", "--sip", "10.0.0.1:70000"), "sip: port", 2),
        (("--name", "fs-x", "--sip", "10.0.0.5"), "is media node 'fs-a' already", 5),  # a conflict
        (("--name", "fs-x", "--sip", "10.0.0.1", "--esl", "10.0.0.1:0"), "esl: port", 2),
        (("--name", "fs-x", "--sip", "10.0.0.1", "--weight", "0"), "weight: 1 to 100", 2),
        (("--name", "fs-x", "--sip", "10.0.0.1", "--weight", "101"), "weight: 1 to 100", 2),
        (("--name", "fs-x", "--sip", "10.0.0.1", "--esl-password", "two words"), "esl_password", 2),
    ],
)
def test_bad_node_arguments_are_refused(no_kamailio, session, args: tuple[str, ...], message: str, code: int) -> None:
    assert cp("node", "add", "--name", "fs-a", "--sip", "10.0.0.5").returncode == 0
    result = cp("node", "add", *args)
    assert result.returncode == code, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert session.scalar(select(func.count()).select_from(MediaNode)) == 1


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_unknown_node_exits_3(no_kamailio, command: str) -> None:
    result = cp("node", command, "nope")
    assert result.returncode == 3
    assert result.stderr == "error: media node 'nope' not found\n"


def test_node_addresses_fall_back_to_cp_fs_nodes_only_when_none_is_registered(
        clean_db, session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_FS_NODES", "env-node=192.0.2.9:8023:envpw")
    assert node_addresses(session) == {"env-node": NodeAddress("env-node", "192.0.2.9", 8023, "envpw")}

    add_node(session, Scope.operator(), name="fs-a", sip="10.0.0.5:5080")
    add_node(session, Scope.operator(), name="fs-b", sip="10.0.0.6", esl="10.9.0.6", esl_password="pw")
    set_status(session, Scope.operator(), "fs-b", Status.DISABLED)
    # Registered nodes replace CP_FS_NODES; a disabled one keeps its address for calls draining on it.
    assert node_addresses(session) == {
        "fs-a": NodeAddress("fs-a", "10.0.0.5", 8021, "ClueCon"),
        "fs-b": NodeAddress("fs-b", "10.9.0.6", 8021, "pw"),
    }
    assert list(node_addresses(session, active_only=True)) == ["fs-a"]


def test_calls_hangup_finds_the_node_in_the_table(clean_db, session) -> None:
    from controlplane.services.call_control import registered_addresses

    add_node(session, Scope.operator(), name="fs-a", sip="10.0.0.5", esl="127.0.0.1:8099")
    session.commit()
    assert registered_addresses() == {"fs-a": NodeAddress("fs-a", "127.0.0.1", 8099, "ClueCon")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.1", ("10.0.0.1", 5060)), ("fs1.example.com:5080", ("fs1.example.com", 5080)),
     ("[2001:db8::1]:5070", ("2001:db8::1", 5070)), ("2001:db8::1", ("2001:db8::1", 5060))],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 5060) == expected


@pytest.mark.parametrize("text", ["", "a b", "10.0.0.1:", "[::1", "[::1]x", "host:port", "-bad.example", "999.1.1.1"])
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text, 5060)


def test_an_ipv6_node_gets_a_bracketed_dispatcher_uri() -> None:
    from controlplane.kamailio.tables import ModelRows, NodeRow, derive

    tables = derive(ModelRows(nodes=[NodeRow(7, "fs6", "2001:db8::5", 5060, "udp", 50, True)]))
    assert [row[1] for row in tables.dispatcher] == ["sip:[2001:db8::5]:5060"]
