"""`controlplane kamailio`: the SIP edge's config, table sync and run-time control over JSON-RPC."""

from __future__ import annotations

import json
import sys

import click

from controlplane.cli.common import EXIT_FAILURE, EXIT_INVALID, _fail, _session, handles_errors
from controlplane.errors import Invalid


@click.group("kamailio")
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


@kamailio.command("rtpengine-start")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default="var/rtpengine.log", show_default=True)
@handles_errors
def kamailio_rtpengine_start(log_path: str) -> None:
    """Start the edge's media relay (rtpengine, user space) in the background on CP_RTPENGINE_* settings."""
    import subprocess
    import time
    from pathlib import Path

    from controlplane.kamailio.rtpengine import NgClient, RtpengineError, command
    from controlplane.settings import get_settings

    settings = get_settings()
    run_dir = Path(settings.rtpengine_run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    argv = command(settings, pid_file=run_dir / "rtpengine.pid")
    with open(log_path, "a") as log:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            _fail(f"rtpengine did not start: {exc}", EXIT_FAILURE)
    client, deadline = NgClient(settings.rtpengine_ng, timeout=0.5), time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            _fail(f"rtpengine exited {proc.returncode}: see {log_path}", EXIT_FAILURE)
        try:
            if client.ping():
                break
        except RtpengineError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            _fail(f"rtpengine (pid {proc.pid}) does not answer on {settings.rtpengine_ng}: see {log_path}",
                  EXIT_FAILURE)
        time.sleep(0.2)
    click.echo(f"rtpengine started: ng {settings.rtpengine_ng}, pid file {run_dir / 'rtpengine.pid'}, log {log_path}")


@kamailio.command("sync")
@click.option("--no-reload", is_flag=True, help="Only write the tables.")
@click.option("--force-reload", is_flag=True, help="Reload every cached table even when nothing changed.")
@handles_errors
def kamailio_sync(no_reload: bool, force_reload: bool) -> None:
    """Derive Kamailio's tables from ours (idempotent) and reload what changed."""
    from controlplane.kamailio.tables import sync

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
