"""Many calls at once for the controller benchmark: the stand-in's own bytes, replayed lean.

The stand-in runs threads per call and spends more CPU on a call than the controller does,
so on two shared cores it would measure itself. Here one call is first played through the
stand-in against the very process under test and recorded; the driver then replays that
conversation for every call from one asyncio loop: the same messages byte for byte, with the
call's own uuid and the controller's Event-UUIDs put in, each reply sent when its command
arrives and each event at its recorded delay after the command that led to it. A call whose
commands differ from the recording is counted, so a controller that took another path shows.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from fs_standin import CallSpec, FarEnd, FreeSwitchStandIn
from fs_standin.call import Call

EVENT_UUID = re.compile(rb"Event-UUID: ([0-9a-f-]{36})")
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Send:
    data: bytes
    after_command: int  # sent once this many commands (counting `connect`) have arrived ...
    delay: float  # ... this many seconds after the last of them (0 for replies)
    is_reply: bool


@dataclass
class Recording:
    uuid: bytes
    commands: list[bytes]  # what the controller sent, uuids blanked, for the deviation check
    event_uuids: list[bytes | None]  # per command: the Event-UUID it carried, if any
    sends: list[Send]


def record_one_call(controller: tuple[str, int], far_end: tuple[str, FarEnd], spec: CallSpec) -> Recording:
    """Play one call through the stand-in and keep every message with its time."""
    messages: list[tuple[float, str, bytes]] = []
    original = Call._record

    def hooked(call: Call, direction: str, raw: bytes) -> None:
        messages.append((time.perf_counter(), direction, raw))
        original(call, direction, raw)

    Call._record = hooked
    fs = FreeSwitchStandIn(controller=controller, inbound_port=0, time_scale=1.0, cdr_url=None)
    try:
        fs.start()
        fs.far_ends.add(*far_end)
        call = fs.place_call(spec)
        call.wait_done(30)
    finally:
        Call._record = original
        fs.stop()
    return build_recording(call.uuid.encode(), messages)


def build_recording(call_uuid: bytes, messages: list[tuple[float, str, bytes]]) -> Recording:
    commands: list[bytes] = []
    event_uuids: list[bytes | None] = []
    times: list[float] = []
    sends: list[Send] = []
    replies_due = 0
    for at, direction, raw in messages:
        if direction == ">>":
            commands.append(UUID.sub(b"<uuid>", raw.split(b"\n", 1)[0]))
            found = EVENT_UUID.search(raw)
            event_uuids.append(found.group(1) if found else None)
            times.append(at)
            continue
        head = b"\n" + raw.split(b"\n\n", 1)[0] + b"\n"
        is_reply = b"\nContent-Type: command/reply\n" in head or b"\nContent-Type: api/response\n" in head
        if is_reply and replies_due < len(commands):
            replies_due += 1
            sends.append(Send(raw, replies_due, 0.0, True))
        else:
            sends.append(Send(raw, len(commands), max(0.0, at - times[-1]) if times else 0.0, False))
    return Recording(call_uuid, commands, event_uuids, sends)


@dataclass
class LoadResult:
    arrived: dict[str, float] = field(default_factory=dict)
    bridged: dict[str, float] = field(default_factory=dict)
    deviated: int = 0
    failed: int = 0
    completed: int = 0

    def latencies(self) -> list[float]:
        return sorted(self.bridged[u] - self.arrived[u] for u in self.bridged if u in self.arrived)


class ReplayCall:
    """One call's conversation with the controller, replayed from a recording."""

    def __init__(self, rec: Recording, result: LoadResult) -> None:
        self.rec = rec
        self.result = result
        self.uuid = str(uuidlib.uuid4()).encode()
        self.subs: list[tuple[bytes, bytes]] = [(rec.uuid, self.uuid)]
        self.arrivals: list[float] = []
        self.progress = asyncio.Condition()
        self.deviated = False

    def _fill(self, data: bytes) -> bytes:
        for old, new in self.subs:
            data = data.replace(old, new)
        return data

    async def run(self, host: str, port: int) -> None:
        key = self.uuid.decode()
        self.result.arrived[key] = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        events = asyncio.ensure_future(self._send_events(writer))
        try:
            await self._serve_commands(reader, writer, key)
            await asyncio.wait_for(events, 30)
            self.result.completed += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            self.result.failed += 1
        finally:
            events.cancel()
            writer.close()
            if self.deviated:
                self.result.deviated += 1

    async def _serve_commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
        replies = [s for s in self.rec.sends if s.is_reply]
        while len(self.arrivals) < len(self.rec.commands):
            raw = await reader.readuntil(b"\n\n")
            if raw == b"\n":
                continue
            n = len(self.arrivals)
            self._check(raw, n)
            if b"execute-app-name: bridge" in raw and key not in self.result.bridged:
                self.result.bridged[key] = time.perf_counter()
            async with self.progress:
                self.arrivals.append(time.perf_counter())
                self.progress.notify_all()
            for reply in replies:
                if reply.after_command == n + 1:
                    writer.write(self._fill(reply.data))

    def _check(self, raw: bytes, n: int) -> None:
        recorded = self.rec.event_uuids[n] if n < len(self.rec.event_uuids) else None
        found = EVENT_UUID.search(raw)
        if recorded and found:
            self.subs.append((recorded, found.group(1)))
        line = UUID.sub(b"<uuid>", raw.lstrip(b"\n").split(b"\n", 1)[0])
        if n >= len(self.rec.commands) or line.split(b" ", 2)[:2] != self.rec.commands[n].split(b" ", 2)[:2]:
            self.deviated = True

    async def _send_events(self, writer: asyncio.StreamWriter) -> None:
        for send in self.rec.sends:
            if send.is_reply:
                continue
            async with self.progress:
                await self.progress.wait_for(lambda s=send: len(self.arrivals) >= s.after_command)
                base = self.arrivals[send.after_command - 1] if send.after_command else time.perf_counter()
            wait = base + send.delay - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(self._fill(send.data))
            await writer.drain()


async def _drive(rec: Recording, host: str, port: int, calls: int, rate: float, result: LoadResult) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = []
    for n in range(calls):
        due = started + n / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(ReplayCall(rec, result).run(host, port)))
    await asyncio.gather(*tasks)


def drive(rec: Recording, controller: tuple[str, int], calls: int, rate: float) -> tuple[LoadResult, float]:
    """Offer `calls` calls at `rate` per second; returns the result and the wall time taken."""
    result = LoadResult()
    # The driver's own collector pauses would read as controller latency: none during the run.
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        asyncio.run(_drive(rec, controller[0], controller[1], calls, rate, result))
        return result, time.perf_counter() - started
    finally:
        gc.enable()
