"""Use cases over the database: each takes a Session and commits nothing on its own.

The caller owns the transaction, so a balance change and its ledger row (or an import and
its version bump) always commit together.
"""
