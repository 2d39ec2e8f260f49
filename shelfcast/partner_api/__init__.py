"""A runnable partner price API (HTTP + SQLite) for demos and tests of shelfcast's HTTP delivery.

It plays the third party: checks the bearer token, validates batches against the export contract,
stores each Idempotency-Key once and can be told to fail, stall or rate-limit. Start it with
``shelfcast partner serve`` or, in tests, ``shelfcast.partner_api.server.PartnerServer``.
"""
