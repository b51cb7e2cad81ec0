"""The store: the eventsourcing application that accepts statements and keeps them.

:class:`~ledger.store.application.Ledger` checks and appends envelopes (format.md 7);
``persistence``/``postgres`` hold the tables; the sequencer gives leaf indexes;
``home`` is the ledger directory the CLI opens.
"""
