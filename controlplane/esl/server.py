"""The controller process: an outbound-ESL server (gevent) plus its background greenlets."""

from __future__ import annotations

import logging

import gevent
from gevent.server import StreamServer

from controlplane.db import get_engine
from controlplane.esl.call_flow import CallFlow
from controlplane.esl.cdr_writer import BatchWriter
from controlplane.esl.channel import CallChannel
from controlplane.esl.channel_sync import ChannelSync
from controlplane.esl.clock import Clock
from controlplane.esl.context import ControllerContext
from controlplane.esl.events import ControllerSession
from controlplane.esl.timers import BalanceTimers
from controlplane.freeswitch.dial_strings import DialStrings
from controlplane.services.call_control import registered_addresses
from controlplane.services.call_views import DecisionCache
from controlplane.settings import Settings, get_settings
from controlplane.state import money_version
from controlplane.state.live_calls import LiveCalls

log = logging.getLogger(__name__)


def build_context(settings: Settings) -> ControllerContext:
    ctx = ControllerContext(
        settings=settings,
        clock=Clock(settings.time_scale),
        live=LiveCalls.connect(),
        writer=BatchWriter(),
        decisions=DecisionCache(background=gevent.spawn),
        dial=DialStrings.from_settings(settings),
    )
    ctx.timers = BalanceTimers(ctx, registered_addresses())
    # Balances this process changes itself (its CDR writer) follow in its money cache at once.
    money_version.listeners.append(ctx.decisions.money.posted)
    return ctx


def handle_connection(ctx: ControllerContext, sock: object, address: tuple[str, int]) -> None:
    session = ControllerSession(address, sock)
    try:
        try:
            with gevent.Timeout(10):
                session.connect()
        except gevent.Timeout:
            log.warning("FreeSWITCH at %s sent no channel data", address)
            return
        CallFlow(CallChannel(session), ctx).run()
    except Exception:
        log.exception("connection from %s failed", address)
    finally:
        close_session(session)


def close_session(session: ControllerSession) -> None:
    """Say goodbye, close the socket, and let the session's reader end by itself with it.

    Killing it would leave a GreenletExit whose traceback holds the session, a cycle only the
    collector's full pass frees; at hundreds of calls a second those passes stall every call.
    """
    try:
        if session.connected:
            with gevent.Timeout(3):
                session.send("exit")
    except BaseException:  # noqa: BLE001 - a dead socket or a timeout both mean: just close
        pass
    session._run = False
    try:
        session.sock.close()
    except OSError:
        pass
    session.event_handlers.clear()


def warm_database_pool(size: int) -> None:
    """Open the pool's connections before the first call, not while a burst of calls waits on
    each one's handshake (a down database is fine here: calls then find out for themselves)."""
    engine = get_engine()

    def open_one() -> None:
        with engine.connect():
            gevent.sleep(0.05)  # held a moment, so the others open connections of their own

    try:
        gevent.joinall([gevent.spawn(open_one) for _ in range(size)], timeout=10, raise_error=True)
    except Exception as exc:  # noqa: BLE001
        log.warning("database pool not warmed: %s", exc)


class Controller:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.ctx = build_context(self.settings)
        self.sync = ChannelSync(self.ctx, self.ctx.timers.nodes, self.ctx.timers)
        self.server = StreamServer(
            (self.settings.controller_host, self.settings.controller_port),
            lambda sock, address: handle_connection(self.ctx, sock, address),
            backlog=1024,
        )
        self.greenlets: list[gevent.Greenlet] = []

    def start(self) -> None:
        warm_database_pool(self.settings.db_pool_size)
        self.server.start()
        self.greenlets = [gevent.spawn(self.ctx.timers.listen), gevent.spawn(self.sync.run)]
        log.info("controller %s listening on %s:%s", self.ctx.name, *self.server.address)

    def serve_forever(self) -> None:
        self.start()
        try:
            gevent.wait()
        finally:
            self.stop()

    def stop(self) -> None:
        self.server.stop(timeout=5)
        gevent.killall(self.greenlets, block=False)
