"""Bridge dial strings: ``{global}[leg]endpoint|[leg]endpoint2,endpoint3`` as FreeSWITCH splits them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Leg:
    endpoint: str
    vars: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> str:
        """The dialled user part: sofia/external/NUM@host, sofia/gateway/gw/NUM, sofia/internal/user@host."""
        parts = self.endpoint.split("/")
        last = parts[-1] if parts else self.endpoint
        return last.split("@", 1)[0]


def _split_top(s: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "[{<":
            depth += 1
        elif ch in "]}>":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _parse_vars(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _split_top(body, ","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip().strip("'")
    return out


def parse_dial_string(s: str) -> tuple[dict[str, str], list[list[Leg]]]:
    """Return (global vars, groups); groups are tried in order ('|'), legs of a group at once (',')."""
    s = s.strip()
    glob: dict[str, str] = {}
    m = re.match(r"^\{(.*?)\}", s)
    if m:
        glob = _parse_vars(m.group(1))
        s = s[m.end():]
    groups: list[list[Leg]] = []
    for g in _split_top(s, "|"):
        legs = []
        for item in _split_top(g, ","):
            item = item.strip()
            lv: dict[str, str] = {}
            lm = re.match(r"^\[(.*?)\]", item)
            if lm:
                lv = _parse_vars(lm.group(1))
                item = item[lm.end():]
            if item:
                legs.append(Leg(item, lv))
        if legs:
            groups.append(legs)
    return glob, groups
