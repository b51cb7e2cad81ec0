"""The independent checks: they read bytes and judge them.

The export verifier, dossier verification, Bawaslu's region report, the
Article 158 margin. They import the format, the log's verification functions and
the pure fold of ``projections`` — never the store, the live projection or a
database driver (``.importlinter`` enforces it).
"""
