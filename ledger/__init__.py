"""pilkada-ledger: signed, hash-chained, transparency-logged election tallies.

The package is cut into layers; each imports only the layers below it
(``.importlinter`` states the contracts, CI checks them):

- ``ledger.format``: the signed format and its rules, pure functions of bytes
  (canonical msgpack, statements, schemas, regions, authority, Ed25519, signed
  notes, Merkle trees, trust roots, the export file's records).
- ``ledger.store``: the eventsourcing application that accepts and stores
  statements (:class:`~ledger.store.application.Ledger`), its persistence, the
  sequencer and the ledger directory.
- ``ledger.log``: the transparency log over a ledger: checkpoints, proofs,
  receipts, the witness.
- ``ledger.checks``: the independent checks, which read bytes and judge them
  (export verifier, dossier verification, Bawaslu's reports, the margin); they
  never import the store.
- ``ledger.pilkada``: the 2024 reference data, scenarios, the simulator, the demo.
- ``ledger.cli``: the ``ledger`` command.
- ``ledger.errors``: the one exception tree (:class:`~ledger.errors.LedgerError`).

This package imports none of them itself, so that the offline checks can be
imported without the application.
"""
