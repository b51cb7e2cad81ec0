"""Projections of a ledger: one fold over the log, live tables, time travel, views."""
