"""A FreeSWITCH 1.10.12 stand-in speaking the Event Socket protocol, built from recorded transcripts."""

from .call import Attempt, Call, CallSpec
from .clock import StandInClock
from .farend import FarEnd, FarEndRegistry, sip_cause_to_freeswitch
from .node import FreeSwitchStandIn

__all__ = ["Attempt", "Call", "CallSpec", "FarEnd", "FarEndRegistry", "FreeSwitchStandIn", "StandInClock",
           "sip_cause_to_freeswitch"]
