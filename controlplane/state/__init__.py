"""Live state and caches shared by processes: calls in flight (Redis, Lua), money and configuration
versions (bumped after commit), the decks' in-memory prefix indexes. Services and adapters are handed
these; nothing here decides anything."""
