"""pilkada-ledger: signed, hash-chained, transparency-logged election tallies.

The public surface, by module (this package imports none of them itself, so
that the offline verifier can be imported without the application):

- ``ledger.application``: :class:`Ledger` (append, read streams and the log)
- ``ledger.tlog``: checkpoints, proofs and receipts of a ledger
- ``ledger.verify``: :func:`verify_export`, the offline verifier
- ``ledger.dossier``: dispute dossiers; ``ledger.report``: Bawaslu's reports
- ``ledger.statement``, ``ledger.canonical``, ``ledger.trust``: the signed format
- ``ledger.errors``: the one exception tree (:class:`LedgerError`)

Everything else is an implementation detail of those.
"""
