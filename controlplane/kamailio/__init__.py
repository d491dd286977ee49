"""The SIP edge adapter: Kamailio config rendering, table sync and JSON-RPC control."""
