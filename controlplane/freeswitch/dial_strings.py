"""FreeSWITCH dial strings for the legs a media node sends out: carriers' and registered phones'. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.core.routing import TrunkInfo


@dataclass(frozen=True)
class DialStrings:
    """FreeSWITCH dial strings; legs leave through Kamailio so carriers see one address."""

    profile: str = "controlplane"
    kamailio: str = ""  # host:port of Kamailio; empty sends legs straight to their host
    leg_timeout: int = 60

    @classmethod
    def from_settings(cls, settings) -> DialStrings:  # noqa: ANN001 - controlplane.settings.Settings
        return cls(settings.fs_profile, settings.kamailio_sip, settings.leg_timeout)

    def _via(self) -> str:
        # mod_sofia reads fs_path up to the next ';' and URL-decodes it into a Route: hence %3Blr.
        return f";fs_path=sip:{self.kamailio}%3Blr" if self.kamailio else ""

    def carrier(self, number: str, trunk: TrunkInfo, cid_number: str | None, cid_name: str | None) -> str:
        # Kamailio relays a leg to a carrier only when asked to and only to a known trunk's host:port.
        leg = ["sip_h_X-CP-Route=carrier", f"sip_h_X-CP-Trunk={trunk.id}", f"leg_timeout={self.leg_timeout}"]
        if cid_number:
            leg.append(f"origination_caller_id_number={_clean(cid_number)}")
        if cid_name:
            leg.append(f"origination_caller_id_name={_clean(cid_name)}")
        return f"[{','.join(leg)}]sofia/{self.profile}/{number}@{trunk.host}:{trunk.port}{self._via()}"

    def local(self, user: str, realm: str | None) -> str:
        return f"[leg_timeout={self.leg_timeout}]sofia/{self.profile}/{user}@{realm}{self._via()}"


def _clean(value: str) -> str:
    """A caller ID for the carrier leg's `[...]` variables: without the dial string's separators, and
    without backslashes and control characters, which FreeSWITCH's parser turns into newlines (a
    caller name `A\\nB` became a header break in the carrier's INVITE, which then went unanswered)."""
    return "".join(ch for ch in value if ch.isprintable() and ch not in ",[]{}'\"|^\\;<>").strip()
