"""The `controlplane` command: thin adapters from arguments to services, one transaction each."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from controlplane.errors import EXIT_FAILURE, DomainError, Invalid, NotFound, outcome
from controlplane.services.scope import Scope

EXIT_INVALID = outcome(Invalid({})).exit_code
EXIT_NOT_FOUND = outcome(NotFound()).exit_code


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one-line messages and distinct exit codes."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            if isinstance(exc, Invalid) and isinstance(exc.errors, list):
                if len(exc.errors) > 1:
                    for line in exc.errors:
                        click.echo(line, err=True)
                _fail(exc.args[0], outcome(exc).exit_code)
            _fail(str(exc), outcome(exc).exit_code)
        except OperationalError as exc:
            _fail(f"database unavailable: {exc.orig}", EXIT_FAILURE)

    return wrapper


def _decimal(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    from controlplane.core.money import to_decimal

    try:
        return to_decimal(value, param.name or "value")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _session():  # noqa: ANN202 - imported lazily so `--help` needs no database driver
    from controlplane.db import session_scope

    return session_scope()


@click.group()
def main() -> None:
    """controlplane: multi-tenant VoIP softswitch control plane."""


# --- database -------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Create the database if needed, run migrations, create Kamailio's standard tables."""
    from controlplane.migrate import upgrade
    from controlplane.settings import get_settings

    upgrade()
    click.echo(f"database at head: {get_settings().database_url.rsplit('@', 1)[-1]}")


# --- users ----------------------------------------------------------------------------------
@main.group()
def user() -> None:
    """Portal users."""


@user.command("ensure-admin")
@click.option("--email", default="admin@localhost", show_default=True)
@handles_errors
def user_ensure_admin(email: str) -> None:
    """Create the first SUPERADMIN if there is none (its password is printed once)."""
    from controlplane.services.users import ensure_admin

    with _session() as s:
        admin, password = ensure_admin(s, email)
        if password:
            click.echo(f"created admin {admin.email} with password: {password}")
        else:
            click.echo(f"admin exists: {admin.email}")


# --- rate decks -----------------------------------------------------------------------------
@main.group()
def deck() -> None:
    """Rate decks (CSV import and export)."""


@deck.command("import")
@click.option("--name", required=True, help="Deck name; an existing deck is replaced atomically.")
@click.option("--buy", is_flag=True, help="A carrier buy-rate deck.")
@click.option("--currency", default="USD", show_default=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@handles_errors
def deck_import(name: str, buy: bool, currency: str, file: str) -> None:
    """Import FILE: prefix,destination,rate,initblock,billingblock,connectcharge[,extra columns]."""
    from controlplane.models import DeckKind
    from controlplane.services.decks import import_deck

    with click.open_file(file, encoding="utf-8") as handle:
        text = handle.read()
    lines = text.splitlines(keepends=True)
    bar = click.progressbar(length=len(lines), label="importing", file=sys.stderr) if len(lines) > 20000 else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.pos)

    with _session() as s:
        report = import_deck(s, name, lines, kind=DeckKind.BUY if buy else DeckKind.SELL,
                             currency=currency.upper(), actor="cli", progress=progress)
    if bar is not None:
        bar.render_finish()
    click.echo(f"imported {report.rows} rates into deck {name!r} (version {report.version})")


@deck.command("export")
@click.option("--name", required=True)
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True)
@handles_errors
def deck_export(name: str, out: str) -> None:
    """Write the deck as CSV (same columns as import)."""
    from controlplane.services.decks import export_deck

    with _session() as s, click.open_file(out, "w", encoding="utf-8") as handle:
        for line in export_deck(s, name):
            handle.write(line)


@deck.command("set-default")
@click.option("--name", required=True)
@handles_errors
def deck_set_default(name: str) -> None:
    """Make NAME the deck used when nothing more specific rates a number."""
    from controlplane.services.decks import set_default_deck

    with _session() as s:
        set_default_deck(s, Scope.operator(), name)
    click.echo(f"default deck: {name}")


# --- tenants, plans, money ------------------------------------------------------------------
@main.group()
def tenant() -> None:
    """Tenants: resellers and clients."""


@tenant.command("create")
@click.option("--name", required=True)
@click.option("--realm", help="SIP realm (domain); required for a client.")
@click.option("--parent", help="Parent reseller (default: the operator).")
@click.option("--plan")
@click.option("--currency", default="USD", show_default=True)
@click.option("--reseller", is_flag=True, help="Create a reseller instead of a client.")
@click.option("--margin", callback=_decimal, help="Reseller margin %% on what its tenants pay.")
@click.option("--postpaid", is_flag=True)
@click.option("--credit-limit", callback=_decimal)
@click.option("--country-code", help="Country code for number normalization, e.g. 49.")
@handles_errors
def tenant_create(name: str, realm: str | None, parent: str | None, plan: str | None, currency: str,
                  reseller: bool, margin: Decimal | None, postpaid: bool, credit_limit: Decimal | None,
                  country_code: str | None) -> None:
    from controlplane.models import TenantKind
    from controlplane.services.tenants import create_tenant, ensure_operator

    with _session() as s:
        ensure_operator(s)
        t = create_tenant(
            s, name=name, realm=realm, parent=parent, plan=plan, currency=currency,
            kind=TenantKind.RESELLER if reseller else TenantKind.CLIENT, postpaid=postpaid,
            credit_limit=credit_limit, margin_pct=margin, country_code=country_code, actor="cli",
        )
        click.echo(f"created {t.kind.value} {t.name!r} (id {t.id}{', realm ' + t.realm if t.realm else ''})")
    _sync_edge()  # its realm (Kamailio's domain table)


@main.group()
def plan() -> None:
    """Plans: decks in priority order plus a markup."""


@plan.command("create")
@click.option("--name", required=True)
@click.option("--deck", "decks", multiple=True, required=True, help="Repeat for more decks, in priority order.")
@click.option("--markup", default="0", show_default=True, help="Markup %% on rate and connect charge.")
@handles_errors
def plan_create(name: str, decks: tuple[str, ...], markup: str) -> None:
    from controlplane.services.plans import create_plan

    with _session() as s:
        p = create_plan(s, name=name, decks=list(decks), markup_pct=markup, actor="cli")
        click.echo(f"created plan {p.name!r} (id {p.id}) with decks {', '.join(decks)}")


@main.group()
def credit() -> None:
    """Balance changes (each one a ledger row)."""


@credit.command("add")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--amount", required=True, callback=_decimal, help="Negative to debit.")
@click.option("--note", required=True, help="Reference note kept in the ledger.")
@handles_errors
def credit_add(tenant_name: str, amount: Decimal, note: str) -> None:
    from controlplane.services.ledger import add_credit
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        entry = add_credit(s, t, amount, note, actor="cli")
        click.echo(f"{t.name}: {entry.amount:+} {t.currency}, balance {entry.balance_after} {t.currency}")


# --- carriers, accounts, numbers ------------------------------------------------------------
@main.group()
def carrier() -> None:
    """Carriers (upstream trunks)."""


@carrier.command("create")
@click.option("--name", required=True)
@click.option("--host", required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5060, show_default=True)
@click.option("--transport", type=click.Choice(["udp", "tcp", "tls"]), default="udp", show_default=True)
@click.option("--buy-deck")
@click.option("--priority", type=int, default=10, show_default=True, help="Lower is tried first on equal cost.")
@click.option("--max-channels", type=click.IntRange(min=0))
@click.option("--strip", "strip_prefix", default="", help="Prefix removed before sending.")
@click.option("--add", "add_prefix", default="", help="Prefix added before sending.")
@click.option("--default", "is_default", is_flag=True, help="Trunk of last resort.")
@click.option("--username", help="Our account at the carrier: answers its challenges to our calls.")
@click.option("--password")
@click.option("--register", is_flag=True, help="Also register to the carrier with these credentials.")
@handles_errors
def carrier_create(name: str, host: str, port: int, transport: str, buy_deck: str | None, priority: int,
                   max_channels: int | None, strip_prefix: str, add_prefix: str, is_default: bool,
                   username: str | None, password: str | None, register: bool) -> None:
    from controlplane.services.carriers import create_carrier

    with _session() as s:
        c = create_carrier(s, name=name, host=host, port=port, transport=transport, buy_deck=buy_deck,
                           priority=priority, max_channels=max_channels, strip_prefix=strip_prefix,
                           add_prefix=add_prefix, is_default=is_default, username=username, password=password,
                           register=register, actor="cli")
        click.echo(f"created carrier {c.name!r} (id {c.id}) -> {host}:{port}/{transport}")
    _sync_edge()  # Kamailio relays legs only to the trunks and takes calls only from the carriers it knows


@main.group("sip-account")
def sip_account() -> None:
    """Customer SIP accounts."""


@sip_account.command("create")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--username", required=True)
@click.option("--password", help="Omit to have one generated (printed once).")
@click.option("--trunk-ip", help="Make it an IP-authenticated customer trunk from this address.")
@click.option("--caller-id", help="Caller ID number presented on outbound calls.")
@handles_errors
def sip_account_create(tenant_name: str, username: str, password: str | None, trunk_ip: str | None,
                       caller_id: str | None) -> None:
    from controlplane.models import SipAccountKind
    from controlplane.services.accounts import create_sip_account
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        created = create_sip_account(
            s, t, username, password, kind=SipAccountKind.TRUNK if trunk_ip else SipAccountKind.ACCOUNT,
            source_ip=trunk_ip, caller_id_number=caller_id, actor="cli",
        )
        click.echo(f"created SIP account {username}@{t.realm} (id {created.account.id})")
        if created.password:
            click.echo(f"password (shown once): {created.password}")
    _sync_edge()  # the subscriber (HA1) or trunk address Kamailio authenticates by


@main.group()
def did() -> None:
    """Inbound numbers."""


@did.command("add")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--number", required=True, help="E.164, e.g. +493055500001")
@click.option("--to-account", help="SIP account username that rings.")
@handles_errors
def did_add(tenant_name: str, number: str, to_account: str | None) -> None:
    from controlplane.services.dids import add_did
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        d = add_did(s, Scope.operator(), t, number, to_account=to_account)
        click.echo(f"DID {d.number} -> {t.name}{' / ' + to_account if to_account else ''}")


# --- dry run ---------------------------------------------------------------------------------
@main.command()
@click.option("--tenant", "tenant_name", required=True)
@click.option("--number", required=True)
@click.option("--billsec", type=click.IntRange(min=0), required=True)
@click.option("--account", help="SIP account username (its deck and trunk overrides apply).")
@handles_errors
def quote(tenant_name: str, number: str, billsec: int, account: str | None) -> None:
    """Dry run of rating and routing for a call: one JSON object on stdout."""
    from controlplane.services import accounts
    from controlplane.services.pricing import quote as make_quote
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        acct = accounts.by_username(s, Scope.operator(), t, account) if account else None
        q = make_quote(s, t, number, billsec, acct)
        click.echo(json.dumps(q.as_dict(), indent=2))


# --- SIP edge (Kamailio) ---------------------------------------------------------------------
@main.group()
def kamailio() -> None:
    """SIP edge: config, table sync and run-time control over JSON-RPC."""


@kamailio.command("render")
@click.option("--out", type=click.Path(dir_okay=False), help="Default: $CP_KAMAILIO_RUN_DIR/kamailio.cfg")
@handles_errors
def kamailio_render(out: str | None) -> None:
    """Write the effective kamailio.cfg for the current settings (self-signed TLS pair if none)."""
    from controlplane.kamailio.render import render

    click.echo(str(render(out).path))


@kamailio.command("check")
@click.option("--out", type=click.Path(dir_okay=False), help="Where to render before checking.")
@handles_errors
def kamailio_check(out: str | None) -> None:
    """Render, then run `kamailio -c -f` on the result."""
    from controlplane.kamailio.render import check, render

    rendered = render(out)
    result = check(rendered.path)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line or "CRITICAL" in line]
    for line in lines:
        click.echo(line, err=True)
    if result.returncode != 0:
        _fail(f"kamailio rejected {rendered.path}", EXIT_FAILURE)
    click.echo(f"config ok: {rendered.path}")


@kamailio.command("start")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default="var/kamailio.log", show_default=True)
@handles_errors
def kamailio_start(log_path: str) -> None:
    """Start Kamailio in the background on the rendered config (render or check first)."""
    import subprocess
    from pathlib import Path

    from controlplane.kamailio.render import command
    from controlplane.settings import get_settings

    run_dir = Path(get_settings().kamailio_run_dir).resolve()
    cfg = run_dir / "kamailio.cfg"
    if not cfg.exists():
        _fail(f"{cfg} not found: run `controlplane kamailio check` first", EXIT_FAILURE)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        argv = command(cfg, run_dir, foreground=False, pid_file=run_dir / "kamailio.pid", shm_mb=128, pkg_mb=16)
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=60)
    if result.returncode != 0:
        _fail(f"kamailio did not start (exit {result.returncode}): see {log_path}", EXIT_FAILURE)
    click.echo(f"kamailio started: pid file {run_dir / 'kamailio.pid'}, log {log_path}")


@kamailio.command("sync")
@click.option("--no-reload", is_flag=True, help="Only write the tables.")
@click.option("--force-reload", is_flag=True, help="Reload every cached table even when nothing changed.")
@handles_errors
def kamailio_sync(no_reload: bool, force_reload: bool) -> None:
    """Derive Kamailio's tables from ours (idempotent) and reload what changed."""
    from controlplane.kamailio.sync import sync

    with _session() as s:
        report = sync(s, reload=not no_reload, force_reload=force_reload)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    click.echo(f"kamailio tables: {counts}")
    click.echo(f"changed: {', '.join(report.changed) or 'nothing'}")
    if report.reloaded:
        click.echo(f"reloaded: {', '.join(report.reloaded)}")
    if report.kicked:
        click.echo(f"registrations removed: {', '.join(report.kicked)}")
    for error in report.errors:
        click.echo(f"warning: {error}", err=True)
    if report.errors:
        sys.exit(EXIT_FAILURE)


@kamailio.command("registrations")
@click.option("--realm")
@click.option("--username")
def kamailio_registrations(realm: str | None, username: str | None) -> None:
    """List registrations (JSON)."""
    from dataclasses import asdict

    from controlplane.kamailio.rpc import KamailioRpc, KamailioRpcError, KamailioUnreachable

    try:
        regs = KamailioRpc().registrations(realm=realm, username=username)
    except (KamailioRpcError, KamailioUnreachable) as exc:
        _fail(str(exc), EXIT_FAILURE)
    click.echo(json.dumps([asdict(r) for r in regs], indent=2))


@kamailio.command("bans")
@handles_errors
def kamailio_bans() -> None:
    """Source addresses the edge drops (flood, strikes, scanners), with why and until when."""
    from datetime import UTC, datetime

    from controlplane.kamailio.rpc import KamailioRpc, KamailioRpcError, KamailioUnreachable

    try:
        bans = KamailioRpc().bans()
    except (KamailioRpcError, KamailioUnreachable) as exc:
        _fail(str(exc), EXIT_FAILURE)
    for ban in bans:
        until = datetime.fromtimestamp(ban.until, UTC).isoformat(timespec="seconds") if ban.until else "?"
        click.echo(f"{ban.address}\t{ban.reason}\tuntil {until}")
    if not bans:
        click.echo("no bans")


@kamailio.command("unban")
@click.argument("address")
@handles_errors
def kamailio_unban(address: str) -> None:
    """Lift the ban of ADDRESS and forget its strikes."""
    import ipaddress

    from controlplane.kamailio.rpc import KamailioRpc, KamailioRpcError, KamailioUnreachable

    try:
        ipaddress.ip_address(address)
    except ValueError:
        _fail(f"{address!r} is not an IP address", EXIT_INVALID)
    try:
        lifted = KamailioRpc().unban(address)
    except (KamailioRpcError, KamailioUnreachable) as exc:
        _fail(str(exc), EXIT_FAILURE)
    click.echo(f"{address}: ban lifted" if lifted else f"{address}: was not banned (strikes forgotten)")


@kamailio.command("firewall")
@click.option("--print", "print_only", is_flag=True, help="Write the nft ruleset to stdout; change nothing.")
@click.option("--remove", is_flag=True, help="Remove the firewall table.")
@handles_errors
def kamailio_firewall(print_only: bool, remove: bool) -> None:
    """Apply the host firewall (nftables) limiting TCP connections per source to the SIP ports."""
    from controlplane.kamailio import firewall
    from controlplane.settings import get_settings

    if print_only and remove:
        raise Invalid(["--print and --remove exclude each other"])
    settings = get_settings()
    if print_only:
        click.echo(firewall.ruleset(settings), nl=False)
        return
    try:
        if remove:
            firewall.remove()
            click.echo(f"firewall removed: table inet {firewall.TABLE}")
            return
        firewall.apply(settings)
    except firewall.FirewallError as exc:
        _fail(str(exc), EXIT_FAILURE)
    ports = ", ".join(str(p) for p in firewall.edge_tcp_ports(settings))
    click.echo(f"firewall applied: table inet {firewall.TABLE}, tcp ports {ports}: per source at most "
               f"{settings.kamailio_tcp_per_source} open, {settings.kamailio_tcp_new_rate} new/s")


# --- media node ------------------------------------------------------------------------------
@main.group()
def freeswitch() -> None:
    """FreeSWITCH media-node configuration."""


@freeswitch.command("render")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory to write (created).")
@click.option("--node-name", help="Switch name (default: CP_NODE_NAME).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="CDR error spool parent (default: OUT/var).")
def freeswitch_render(out: str, node_name: str | None, state_dir: str | None) -> None:
    """Write a node's config (freeswitch.xml, autoload_configs/, dialplan/) from settings."""
    from controlplane.freeswitch.render import render
    from controlplane.settings import get_settings

    files = render(get_settings(), out, node_name=node_name, state_dir=state_dir)
    click.echo(f"wrote {len(files)} files to {out} (start with: freeswitch -nonat -nf -nc -conf {out} ...)")


@main.group()
def node() -> None:
    """Media nodes: Kamailio's dispatcher set and the controller's ESL addresses."""


def _sync_edge() -> None:
    """After a committed change Kamailio must know (nodes, carriers, accounts, realms): rewrite its
    tables and reload them. Kamailio down is a warning, not a failure: the tables are written and
    it loads them when it starts."""
    from controlplane.kamailio.sync import sync

    with _session() as s:
        report = sync(s)
    if report.errors:
        click.echo(f"warning: kamailio tables written but not reloaded ({report.errors[0]}); "
                   "run `controlplane kamailio sync` when Kamailio is up", err=True)


def _node_dict(n: Any) -> dict[str, Any]:  # noqa: ANN401 - a MediaNode, imported lazily
    from controlplane.services.nodes import address_of

    esl = address_of(n)
    return {"name": n.name, "status": n.status.value, "sip": f"{n.host}:{n.port}", "transport": n.transport,
            "weight": n.weight, "esl": f"{esl.host}:{esl.port}", "esl_password_set": n.esl_password is not None}


@node.command("add")
@click.option("--name", required=True, help="The node's switchname (`freeswitch render --node-name`).")
@click.option("--sip", required=True, help="HOST[:PORT] Kamailio sends calls to (port 5060 by default).")
@click.option("--transport", type=click.Choice(["udp", "tcp"]), default="udp", show_default=True)
@click.option("--esl", help="HOST[:PORT] of its inbound event socket (default: the SIP host, port 8021).")
@click.option("--esl-password", help="Event socket password (default: FreeSWITCH's ClueCon).")
@click.option("--weight", type=int, default=50, show_default=True, help="Dispatcher weight, 1 to 100.")
@handles_errors
def node_add(name: str, sip: str, transport: str, esl: str | None, esl_password: str | None, weight: int) -> None:
    """Register a FreeSWITCH node and put it in Kamailio's dispatcher set."""
    from controlplane.services.nodes import add_node

    with _session() as s:
        n = add_node(s, name=name, sip=sip, transport=transport, esl=esl, esl_password=esl_password,
                     weight=weight, actor="cli")
        shown = _node_dict(n)
    click.echo(f"added media node {name!r} (id {n.id}): sip {shown['sip']}/{transport}, esl {shown['esl']}, "
               f"weight {weight}")
    _sync_edge()


@node.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@handles_errors
def node_list(as_json: bool) -> None:
    """Registered media nodes (ESL passwords are never shown)."""
    from controlplane.services.nodes import list_nodes

    with _session() as s:
        rows = [_node_dict(n) for n in list_nodes(s)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("NAME", "STATUS", "SIP", "TRANSPORT", "WEIGHT", "ESL")
    table = [header] + [(r["name"], r["status"], r["sip"], r["transport"], str(r["weight"]), r["esl"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"{len(rows)} media node(s)" + ("" if rows else "; CP_FS_NODES gives the ESL addresses"))


def _set_node_status(name: str, active: bool) -> None:
    from controlplane.models import Status
    from controlplane.services.nodes import set_status

    with _session() as s:
        _, changed = set_status(s, name, Status.ACTIVE if active else Status.DISABLED, actor="cli")
    word = "enabled" if active else "disabled"
    click.echo(f"media node {name!r} {word}" if changed else f"media node {name!r} was {word} already")
    _sync_edge()


@node.command("disable")
@click.argument("name")
@handles_errors
def node_disable(name: str) -> None:
    """Take NAME out of the dispatcher: no new calls; calls on it run to their end."""
    _set_node_status(name, active=False)


@node.command("enable")
@click.argument("name")
@handles_errors
def node_enable(name: str) -> None:
    """Put NAME back in the dispatcher set."""
    _set_node_status(name, active=True)


# --- processes -------------------------------------------------------------------------------
@main.command()
def web() -> None:
    """Serve the portal and API (gunicorn)."""
    import os

    from controlplane.settings import get_settings

    settings = get_settings()
    os.execvp(sys.executable, [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"{settings.web_host}:{settings.web_port}",
        "controlplane.web:create_app()",
    ])


@main.group()
def calls() -> None:
    """Calls in flight (from Redis), whichever controller runs them."""


@calls.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's calls.")
@handles_errors
def calls_list(tenant_name: str | None) -> None:
    from controlplane.services.call_control import list_calls
    from controlplane.state.live_calls import LiveCalls

    tenant_ids = None
    if tenant_name:
        from controlplane.services.tenants import by_name

        with _session() as s:
            tenant_ids = {by_name(s, Scope.operator(), tenant_name).id}
    rows = list_calls(LiveCalls.connect(), Scope.operator(), tenant_ids)
    for c in rows:
        click.echo(f"{c.uuid}  {c.state:9}  tenant {c.tenant_id}  {c.caller} -> {c.destination}  "
                   f"trunk {c.trunk or '-'}  node {c.node}")
    click.echo(f"{len(rows)} call(s) in flight")


@calls.command("hangup")
@click.argument("uuid")
@click.option("--cause", default="NORMAL_CLEARING", show_default=True)
@handles_errors
def calls_hangup(uuid: str, cause: str) -> None:
    """Hang a call up on its media node (python-ESL, uuid_kill)."""
    from controlplane.freeswitch.esl_client import api
    from controlplane.services.call_control import hangup_call
    from controlplane.state.live_calls import LiveCalls

    click.echo(hangup_call(LiveCalls.connect(), uuid, api, cause))


@main.command()
@click.option("--once", is_flag=True, help="Drain once and exit (for cron or tests).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between passes.")
def worker(once: bool, interval: float) -> None:
    """Background work: write CDRs spooled while MariaDB was unreachable."""
    import time

    from controlplane.cdr_delivery import drain
    from controlplane.state.spool import Spool

    spool = Spool.default()
    while True:
        try:
            counts = drain(spool)
        except Exception as exc:  # noqa: BLE001 - Redis down: try again next pass
            click.echo(f"spool: not drained ({exc})", err=True)
            if once:
                sys.exit(EXIT_FAILURE)
            time.sleep(interval)
            continue
        if any(counts.values()) or once:
            click.echo(f"spool: {counts['written']} written, {counts['duplicate']} already there, "
                       f"{spool.size()} waiting")
        if once:
            return
        time.sleep(interval)


@main.command()
def controller() -> None:
    """Run the outbound-ESL call controller (FreeSWITCH's `socket` target)."""
    import os

    os.execvp(sys.executable, [sys.executable, "-m", "controlplane.esl"])


if __name__ == "__main__":
    main()
