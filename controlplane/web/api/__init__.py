"""The REST API (`/api/v1`): its blueprints. Today FreeSWITCH's CDR push; the operator, reseller and tenant
resources come next, each route a thin adapter over one scoped service in one transaction."""
