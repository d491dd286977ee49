"""FreeSWITCH media-node configuration (rendered from freeswitch-conf/ and dialplan/)."""
