"""The signed format and its rules: pure functions of bytes (docs/format.md).

Everything an independent verifier relies on lives here, and this layer imports
nothing of the layers above it (no store, no database driver, no log, no checks).
"""
