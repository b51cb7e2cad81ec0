"""``ledger monitor``: an auditor's always-on process that follows a remote log (follow.py)."""
