"""The transparency log over a ledger: checkpoints, proofs, receipts, the witness.

RFC 9162 trees and C2SP checkpoints, cosignatures and proofs (format.md 8).
"""
