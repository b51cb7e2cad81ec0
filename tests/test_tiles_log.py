"""The log as tiles on a real ledger: stored tiles served, written as a static tree,
mirrored over HTTP from a real server process, verified; forks and shrinking logs
refused; the node-per-row layout migrated. Both backends."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import errors
from ledger.checks.verify import verify_export
from ledger.format import merkle
from ledger.format.merkle_tiles import TILE_HEIGHT
from ledger.log import tiles
from ledger.log.export import export_ledger
from ledger.log.mirror import mirror
from ledger.log.proofs import open_checkpoint
from ledger.log.publish import write_tile_tree
from ledger.log.static import CHECKPOINT_FILE, DirectoryTiles, export_stream
from ledger.log.tlog import TransparencyLog
from ledger.store.application import Ledger
from ledger.store.migrations import SCHEMA_META, SCHEMA_VERSION
from tests.test_tlog import execute, grow, stored_envelopes
from tests.world import BUPATI, TPS, World, build_world, tally, unwitnessed_policy


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def assert_served_bytes(log: TransparencyLog, out: Path) -> int:
    """Every tile and bundle in ``out`` is byte-identical to what the log serves."""
    checked = 0
    for path, data in tree_files(out).items():
        if not path.startswith("tile/"):
            continue
        level, index, width = tiles.parse_tile_path(path)
        served = (
            log.read_entry_bundle(index, width)
            if level is None
            else log.read_tile(level, index, width)
        )
        assert data == served, path
        checked += 1
    return checked


def check_tiles_of(log: TransparencyLog, size: int, raws: list[bytes], reader: Any) -> None:
    """The tiles of tree ``size`` from ``reader``: full and partial ones hold the hashes
    the leaves give, and the root recomputed from them is the checkpoint's."""
    reference = merkle.MemoryNodeStore()
    reference.append_leaf_hashes(merkle.leaf_hash(r) for r in raws[:size])
    for ref in tiles.tiles_of(size):
        assert ref.level is not None
        data = reader.read_tile(ref.level, ref.index, ref.width)
        first = ref.index * tiles.TILE_WIDTH
        level = TILE_HEIGHT * ref.level
        assert data == b"".join(
            reference.read_nodes([(level, first + i) for i in range(ref.width)])
        ), ref.path()
    checkpoint = open_checkpoint(log.checkpoint_at(size), log.log_verifier)
    assert tiles.root(size, reader) == checkpoint.root_hash


# --- the contract -------------------------------------------------------------------------


class TilesContract:
    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def other_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def opened(self) -> Iterator[list[Ledger]]:
        ledgers: list[Ledger] = []
        yield ledgers
        for ledger in ledgers:
            ledger.close()

    @pytest.fixture
    def world(self, url: str, opened: list[Ledger]) -> World:
        w = build_world(url)
        opened.append(w.ledger)
        return w

    def test_the_log_serves_its_tiles_and_refuses_tiles_it_does_not_hold(
        self, world: World
    ) -> None:
        log = TransparencyLog(world.ledger)
        grow(world, 300)  # 313 leaves: a full level-0 tile and a partial one
        size = log.size()
        log.issue_checkpoint(world.scenario.log_signer)
        raws = stored_envelopes(world.ledger)
        check_tiles_of(log, size, raws, log)
        assert log.read_tile(0, 1, 3) == log.read_tile(0, 1, size - 256)[:96]
        bundle = tiles.decode_entry_bundle(log.read_entry_bundle(1, size - 256))
        assert bundle == raws[256:]
        for level, index, width in [(0, 1, size - 255), (0, 2, 1), (1, 0, 2), (2, 0, 1)]:
            with pytest.raises(errors.UnknownEventError):
                log.read_tile(level, index, width)
        with pytest.raises(errors.UnknownEventError):
            log.read_entry_bundle(1, size - 255)
        with pytest.raises(errors.UnknownEventError):
            log.read_tile(64, 0, 1)

    def test_a_static_tree_is_written_incrementally_and_mirrored_and_verified(
        self, world: World, tmp_path: Path, served: tuple[Path, str]
    ) -> None:
        root, base = served
        out = root / f"{tmp_path.name}-out"
        mirrored = tmp_path / "mirror"
        log = TransparencyLog(world.ledger)
        vkey = log.log_verifier
        s = world.scenario
        with pytest.raises(errors.UnknownEventError, match="no checkpoint"):
            write_tile_tree(log, out)

        sizes = []
        for step, count in enumerate((1, 260, 5)):
            grow(world, count)
            log.issue_checkpoint(s.log_signer)
            sizes.append(log.size())
            if step == 1:  # two checkpoints between writes
                grow(world, 2)
                log.issue_checkpoint(s.log_signer)
                sizes.append(log.size())
            before = tree_files(out) if out.exists() else {}
            result = write_tile_tree(log, out)
            after = tree_files(out)
            previous = (0, *sizes)[[0, 1, 3][step]]  # the size written by the step before
            assert (result.size, result.previous) == (sizes[-1], previous)
            # Incremental: earlier files are untouched, new ones are those of the new sizes.
            assert {k: after[k] for k in before if k != CHECKPOINT_FILE} == {
                k: v for k, v in before.items() if k != CHECKPOINT_FILE
            }
            assert after[CHECKPOINT_FILE] == log.latest_checkpoint()
            assert assert_served_bytes(log, out) > 0
            # The partial tiles of every checkpoint size are there.
            for n in sizes:
                check_tiles_of(log, n, stored_envelopes(world.ledger), DirectoryTiles(out))
            assert write_tile_tree(log, out).files == 0  # nothing new: nothing written
            got = mirror(f"{base}/{out.name}", mirrored, vkey)
            assert (got.size, got.previous) == (sizes[-1], previous)
        # The mirror holds the same tiles and bundles, byte for byte.
        mirrored_files = tree_files(mirrored)
        published = tree_files(out)
        seen = [sizes[0], sizes[2], sizes[3]]  # the checkpoints the mirror fetched
        assert {k: v for k, v in mirrored_files.items() if k.startswith("tile/")} == {
            k: v
            for k, v in published.items()
            if k.startswith("tile/") and _in_tree_of(tiles.parse_tile_path(k), seen)
        }
        assert mirror(f"{base}/{out.name}", mirrored, vkey).fetched == 0

        # verify reads the tree and the mirror as it reads the export: the same report.
        # The tree, the mirror and the export are equal inputs: no witness in play here.
        policy = unwitnessed_policy(world.ledger.trust)
        export = tmp_path / "ledger.export"
        with export.open("wb") as f:
            export_ledger(world.ledger, f)
        with export.open("rb") as f:
            expected = verify_export(f, policy)
        assert expected.ok
        from_tree = verify_export(export_stream(out, policy.roots), policy)
        assert from_tree.to_json() == expected.to_json()
        from_mirror = verify_export(export_stream(mirrored, policy.roots), policy)
        assert from_mirror.ok and from_mirror.totals == expected.totals
        assert from_mirror.leaves == expected.leaves
        assert [c["size"] for c in from_mirror.checkpoints] == [sizes[0], sizes[2], sizes[3]]

        # A tree with an entry bundle gone does not verify (and says why).
        broken = tmp_path / "broken"
        shutil.copytree(out, broken)
        (broken / tiles.entries_path(0)).unlink()
        report = verify_export(export_stream(broken, policy.roots), policy)
        assert not report.ok and "FormatError" in report.failures

    def test_a_mirror_refuses_a_forked_tile_a_fork_and_a_smaller_checkpoint(
        self,
        world: World,
        tmp_path: Path,
        served: tuple[Path, str],
        other_url: str,
        opened: list[Ledger],
    ) -> None:
        root, base = served
        s = world.scenario
        log = TransparencyLog(world.ledger)
        out = root / f"{tmp_path.name}-honest"
        mirrored = tmp_path / "mirror"
        vkey = log.log_verifier
        log.issue_checkpoint(s.log_signer)
        first = log.size()
        write_tile_tree(log, out)
        old_checkpoint = (out / CHECKPOINT_FILE).read_bytes()
        mirror(f"{base}/{out.name}", mirrored, vkey)
        grow(world, 5)
        log.issue_checkpoint(s.log_signer)
        write_tile_tree(log, out)
        held = tree_files(mirrored)

        def refused(tree: Path, error: type[errors.LedgerError], match: str) -> None:
            with pytest.raises(error, match=match):
                mirror(f"{base}/{tree.name}", mirrored, vkey)
            assert tree_files(mirrored) == held, "a refused mirror run kept something"

        # A forked tile: one hash of the new partial tile changed.
        forked = root / f"{tmp_path.name}-forked-tile"
        shutil.copytree(out, forked)
        partial = forked / tiles.tile_path(0, 0, log.size())
        data = partial.read_bytes()
        partial.write_bytes(data[:-32] + bytes(32))
        refused(forked, errors.RootMismatchError, "forked or corrupt tile")
        # A forked entry: the bundle does not hash to the tile.
        forked_entry = root / f"{tmp_path.name}-forked-entry"
        shutil.copytree(out, forked_entry)
        bundle = forked_entry / tiles.entries_path(0, log.size())
        entries = tiles.decode_entry_bundle(bundle.read_bytes())
        bundle.write_bytes(tiles.encode_entry_bundle([*entries[:-1], entries[-2]]))
        refused(forked_entry, errors.RootMismatchError, "forked or corrupt entry")
        # A checkpoint not signed by the log key.
        unsigned = root / f"{tmp_path.name}-unsigned"
        shutil.copytree(out, unsigned)
        note = (unsigned / CHECKPOINT_FILE).read_bytes()
        (unsigned / CHECKPOINT_FILE).write_bytes(note.replace(b"\n\n", b"\n\nx", 1))
        refused(unsigned, errors.LedgerError, "checkpoint")

        # The honest tree: mirrored.
        assert mirror(f"{base}/{out.name}", mirrored, vkey).size == log.size()
        held = tree_files(mirrored)

        # A smaller checkpoint than the one mirrored.
        shrunk = root / f"{tmp_path.name}-shrunk"
        shutil.copytree(out, shrunk)
        (shrunk / CHECKPOINT_FILE).write_bytes(old_checkpoint)
        refused(shrunk, errors.LogShrankError, f"smaller than the {log.size()} already mirrored")

        # A fork signed by the same log key: the first checkpoint's history, then
        # other events, then a larger checkpoint. Its tiles hash into its own root,
        # but it does not extend the tree mirrored.
        fork = build_world(other_url)
        opened.append(fork.ledger)
        fork_log = TransparencyLog(fork.ledger)
        fs, fk = fork.scenario, fork.keys
        rival = fs.count(fk["kpps"], BUPATI, TPS, tally((1, 2)))
        fork.append(rival, *[fs.attest(fk["panwas"], BUPATI, TPS, rival.hash) for _ in range(6)])
        assert fork_log.size() > log.size() and first < log.size()
        fork_log.issue_checkpoint(fs.log_signer)
        fork_tree = root / f"{tmp_path.name}-fork"
        write_tile_tree(fork_log, fork_tree)
        refused(fork_tree, errors.InconsistentCheckpointError, "does not extend")
        # Nor does `ledger tiles` overwrite a tree published from another history.
        with pytest.raises(errors.InconsistentCheckpointError, match="does not extend"):
            write_tile_tree(fork_log, out)

    def test_a_ledger_in_the_node_layout_is_refused_then_migrated(
        self, world: World, url: str
    ) -> None:
        log = TransparencyLog(world.ledger)
        grow(world, 270)
        note = log.issue_checkpoint(world.scenario.log_signer)
        size = log.size()
        before = execute(world.ledger, "SELECT level, idx, hashes FROM {s}ledger_tiles")
        # The earlier layout: one row per complete subtree, and no tiles.
        reference = merkle.MemoryNodeStore()
        reference.append_leaf_hashes(merkle.leaf_hash(r) for r in stored_envelopes(world.ledger))
        nodes = [
            (level, index, h)
            for level in range(size.bit_length())
            for index, h in enumerate(
                reference.read_nodes([(level, i) for i in range(size >> level)])
            )
        ]
        blob = "BYTEA" if url.startswith("postgres") else "BLOB"
        execute(
            world.ledger,
            f"CREATE TABLE {{s}}ledger_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL,"
            f" hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
        )
        store: Any = world.ledger.log_store
        with store.datastore.transaction(commit=True) as c:
            c.executemany(store._sql("INSERT INTO {s}ledger_nodes VALUES (?, ?, ?)"), nodes)
        _as_schema_version_1(world.ledger)
        world.ledger.close()

        with pytest.raises(errors.ConfigurationError, match="run `ledger migrate`"):
            Ledger(url)
        assert Ledger.migrate(url) == (1, SCHEMA_VERSION)
        assert Ledger.migrate(url) == (SCHEMA_VERSION, SCHEMA_VERSION)  # idempotent
        with Ledger(url) as ledger:
            assert not ledger.log_store.legacy_nodes()
            after = execute(ledger, "SELECT level, idx, hashes FROM {s}ledger_tiles")
            assert sorted(map(tuple, after)) == sorted(map(tuple, before))
            assert TransparencyLog(ledger).latest_checkpoint() == note
            assert TransparencyLog(ledger).root(size) == reference.root()

    def test_a_migration_of_a_damaged_node_table_converts_nothing(
        self, world: World, url: str
    ) -> None:
        log = TransparencyLog(world.ledger)
        log.issue_checkpoint(world.scenario.log_signer)
        blob = "BYTEA" if url.startswith("postgres") else "BLOB"
        execute(
            world.ledger,
            f"CREATE TABLE {{s}}ledger_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL,"
            f" hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
        )
        _as_schema_version_1(world.ledger)
        world.ledger.close()
        with pytest.raises(errors.ConfigurationError, match="damaged"):
            Ledger.migrate(url)
        with pytest.raises(errors.ConfigurationError, match="run `ledger migrate`"):
            Ledger(url)  # still version 1: nothing was converted


def _as_schema_version_1(ledger: Ledger) -> None:
    """Make ``ledger`` look as schema version 1 left it: nodes (already in place), no tiles."""
    execute(ledger, "DROP TABLE {s}ledger_tiles")
    execute(ledger, "UPDATE {s}ledger_meta SET value=? WHERE name=?", (b"1", SCHEMA_META))


def _in_tree_of(parsed: tuple[int | None, int, int], sizes: list[int]) -> bool:
    """Whether a tile (or bundle) is one of the tree of one of ``sizes``."""
    level, index, width = parsed
    return any(tiles.tile_width(n, level or 0, index) == width for n in sizes)


class TestTilesOnSQLite(TilesContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def other_url(self, tmp_path: Path) -> str:
        return f"sqlite:{tmp_path / 'other.db'}"


@pytest.mark.postgres
class TestTilesOnPostgres(TilesContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def other_url(self, other_postgres_url: str) -> str:
        return other_postgres_url
