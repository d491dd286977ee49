"""The outbound-ESL call controller: FreeSWITCH connects here for every call and obeys it.

Thin adapters over greenswitch (gevent); every decision comes from the domain core.
"""
