"""Use cases over the database: each takes a Session and commits nothing on its own.

The caller owns the transaction, so a balance change and its ledger row (or an import and
its version bump) always commit together.
"""

# Registers the session events that bump the config version after a commit that changed what
# call decisions read, for every process that writes through these services.
from controlplane.state import config_version  # noqa: F401
