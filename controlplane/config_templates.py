"""Where the Kamailio and FreeSWITCH config templates are: one look-up for both renderers.

The templates live once, at the repository's top level (``kamailio-cfg/``, ``freeswitch-conf/``, ``dialplan/``).
A built wheel carries copies of them as package data under ``controlplane/_templates/`` (setup.py's ``build_py``
copies them at build time), so an installed package renders outside a checkout. Running from a checkout or an
editable install there is no copy, and the top-level folders are read directly.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

TEMPLATE_DIRS = ("kamailio-cfg", "freeswitch-conf", "dialplan")
PACKAGED = "_templates"  # the folder inside the installed package (setup.py writes it)
_CHECKOUT = Path(__file__).resolve().parents[1]


def template_dir(name: str) -> Traversable:
    """The template folder ``name`` (one of TEMPLATE_DIRS): the installed package's copy, else the checkout's."""
    if name not in TEMPLATE_DIRS:
        raise ValueError(f"unknown template folder {name!r} (known: {', '.join(TEMPLATE_DIRS)})")
    packaged = files("controlplane").joinpath(PACKAGED, name)
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"config templates {name}/ not found: neither in the installed package "
                            f"(controlplane/{PACKAGED}/{name}) nor in a checkout ({checkout})")
