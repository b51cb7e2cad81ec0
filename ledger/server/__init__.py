"""The ledger as a network service (issue 13): submissions over HTTP, the log as tiles.

Sits above ``store`` and ``log``; imported by ``cli`` only.
"""
