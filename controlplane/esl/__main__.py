"""`python -m controlplane.esl`: run the call controller (gevent patches the world first)."""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402

from controlplane.esl.server import Controller  # noqa: E402


def main() -> None:
    # Hundreds of calls run here as greenlets: keep enough MariaDB connections open that no call
    # waits for, or opens, one of its own.
    os.environ.setdefault("CP_DB_POOL_SIZE", "60")
    # greenswitch logs every socket event on the root logger: keep that at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("controlplane").setLevel(os.environ.get("CP_LOG_LEVEL", "INFO"))
    controller = Controller()
    if controller.settings.controller_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(controller.settings.controller_metrics_port, addr=controller.settings.controller_host)
    # What was loaded to start (modules, ORM mappers, gevent) lives as long as the process: out of
    # the collector's way, so a full collection walks only the objects calls create, and the
    # calls in flight do not stall behind a walk of the whole heap. A call leaves no cycles
    # behind (see server.close_session), so collections can be rarer: each one walks every
    # object of the calls in flight and stalls them all for its duration.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 1_000)
    controller.serve_forever()


if __name__ == "__main__":
    main()
