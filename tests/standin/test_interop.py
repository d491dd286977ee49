"""The stand-in against an independent client library (greenswitch, gevent) in a separate process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlplane.testing.net import free_port
from fs_standin import CallSpec, FreeSwitchStandIn

pytest.importorskip("greenswitch")


def test_greenswitch_outbound_app() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("greenswitch_app.py")), str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        fs = FreeSwitchStandIn(controller=("127.0.0.1", port), inbound_port=None, time_scale=4).start()
        call = fs.place_call(CallSpec(sip_headers={"X-CP-Account": "42"}))
        call.wait_done(20)
        assert call.hangup_cause == "NORMAL_CLEARING"
        assert call.billsec is not None and call.billsec >= 1
        names = call.event_names_seen
        assert names.index("CHANNEL_ANSWER") < names.index("CHANNEL_HANGUP") < names.index("CHANNEL_HANGUP_COMPLETE")
        assert any("Application-Response" in e[2] and e[2].get("Application-Response") == "FILE PLAYED"
                   for e in call.events)
        fs.stop()
    finally:
        proc.kill()
        out = proc.communicate(timeout=5)[0]
    assert "ACCOUNT 42" in out
