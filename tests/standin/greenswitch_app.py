"""Run by test_interop.py in its own process: a greenswitch (gevent) outbound ESL app, one call."""

import sys

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402 - after monkey-patching
import greenswitch  # noqa: E402


class App:
    def __init__(self, session):
        self.session = session

    def run(self):
        s = self.session
        s.connect()
        s.myevents()
        s.linger()
        s.answer()
        s.playback("tone_stream://%(1000,0,440);loops=2", block=True)
        print("ACCOUNT", s.session_data.get("variable_sip_h_X-CP-Account"), flush=True)
        s.hangup("NORMAL_CLEARING")
        gevent.sleep(0.5)
        s.stop()


port = int(sys.argv[1])
server = greenswitch.OutboundESLServer(bind_address="127.0.0.1", bind_port=port, application=App,
                                       max_connections=2)
gevent.spawn_later(20, server.stop)
print("READY", flush=True)
server.listen()
