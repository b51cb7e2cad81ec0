"""The transparency log over a ledger: checkpoints, proofs, receipts, witnesses, sequencer.

One contract, run on every storage backend. Every rejection asserts the exact
LedgerError subclass (not just a base class), and every refused checkpoint that
nothing new was stored. Roots and proofs are checked against computations that
do not read the ledger's node table: the envelope bytes hashed afresh into a
merkle.MemoryNodeStore, the slow RFC 9162 oracle in tests/merkle_reference.py,
and the RFC 9162 verifiers transcribed in tests/tlog_reference.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import errors
from ledger.format import merkle
from ledger.format.merkle_tiles import perfect_root
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    Checkpoint,
    Note,
    NoteSigner,
    Verifier,
    parse_note,
    sign_note,
)
from ledger.format.regions import sheet_stream
from ledger.format.statement import Envelope
from ledger.log import tiles
from ledger.log.mirror import mirror
from ledger.log.proofs import (
    RECEIPT_HEADER,
    ConsistencyProof,
    InclusionProof,
    Receipt,
    open_checkpoint,
)
from ledger.log.publish import write_tile_tree
from ledger.log.static import CHECKPOINT_FILE, DirectoryTiles
from ledger.log.tlog import TransparencyLog
from ledger.log.witness import Witness, verify_cosigned
from ledger.pilkada.scenario import Scenario
from ledger.store import sequencer
from ledger.store.application import Ledger
from tests import merkle_reference, tlog_reference
from tests.world import BUPATI, TPS, TPS2, World, build_world, tally

NOW = 1_732_700_000

# --- helpers ------------------------------------------------------------------------------


@contextmanager
def raises_exactly(error: type[Exception], match: str | None = None) -> Iterator[None]:
    """pytest.raises, but a subclass of ``error`` does not count."""
    with pytest.raises(error, match=match) as info:
        yield
    assert type(info.value) is error, f"raised {type(info.value).__name__}: {info.value}"


@contextmanager
def no_new_checkpoint(ledger: Ledger) -> Iterator[None]:
    before = ledger.log_store.checkpoints()
    yield
    assert ledger.log_store.checkpoints() == before, "a checkpoint was stored"


def execute(ledger: Ledger, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run SQL on the ledger's own database ({s} is its schema prefix, ? a placeholder)."""
    store: Any = ledger.log_store
    with store.datastore.transaction(commit=True) as cursor:
        cursor.execute(store._sql(sql), params)
        try:
            return list(cursor.fetchall())
        except Exception:  # no result set (UPDATE, DELETE)
            return []


def stored_envelopes(ledger: Ledger) -> list[bytes]:
    """Every stored envelope, read back from the event store, in leaf order."""
    by_notification: dict[int, bytes] = {}
    start = 0
    while True:
        page = ledger.recorder.select_notifications(
            start=start, limit=5000, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            event: Any = ledger.mapper.to_domain_event(notification)
            by_notification[notification.id] = event.envelope
        start = page[-1].id
    leaves = ledger.log_store.leaves(0, ledger.log_store.log_size())
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves)))
    assert len(leaves) == len(by_notification), "an event is stored but not sequenced"
    return [by_notification[leaf.notification_id] for leaf in leaves]


def reference_root(raws: list[bytes]) -> bytes:
    store = merkle.MemoryNodeStore()
    store.append_leaf_hashes(merkle.leaf_hash(r) for r in raws)
    return store.root()


def log_state(ledger: Ledger) -> tuple[list[Any], list[Any], int | None]:
    """Leaves, Merkle tiles and sequencer position: what two equal logs must share."""
    leaves = [
        (r.leaf_index, r.event_hash, r.stream, r.seq)
        for r in ledger.log_store.leaves(0, ledger.log_store.log_size())
    ]
    tiles = [
        (row["level"], row["idx"], bytes(row["hashes"]))
        for row in execute(
            ledger, "SELECT level, idx, hashes FROM {s}ledger_tiles ORDER BY level, idx"
        )
    ]
    return leaves, tiles, ledger.log_store.max_tracking_id(sequencer.SEQUENCER_NAME)


def resign_checkpoint(signer: NoteSigner, origin: str, size: int, root: bytes) -> str:
    return sign_note(Checkpoint(origin, size, root).to_text(), [signer]).decode()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def grow(world: World, count: int, tps: str = TPS) -> list[Envelope]:
    """Append a count and ``count - 1`` attestations to it on one sheet."""
    s, k = world.scenario, world.keys
    kpps = k["kpps"] if tps == TPS else k["kpps2"]
    sheet = s.count(kpps, BUPATI, tps, tally())
    envelopes = [sheet] + [s.attest(k["panwas"], BUPATI, tps, sheet.hash) for _ in range(count - 1)]
    world.ledger.append_batch([e.raw for e in envelopes])
    return envelopes


def case(
    tamper: Callable[..., Any], error: type[Exception], *, id: str, restate: bool = True
) -> Any:
    """One row of a tamper table; ``restate=False`` keeps the redundant JSON fields stale."""
    return pytest.param(tamper, error, restate, id=id)


def _restate_inclusion(doc: dict[str, Any]) -> None:
    """Make tree_size and event_hash agree with the (tampered) checkpoint and envelope."""
    with suppress(Exception):
        doc["event_hash"] = hashlib.sha256(base64.b64decode(doc["envelope"])).hexdigest()
    with suppress(Exception):
        doc["tree_size"] = Checkpoint.parse(parse_note(doc["checkpoint"]).text).size


def _restate_consistency(doc: dict[str, Any]) -> None:
    for side in ("old", "new"):
        with suppress(Exception):
            note = parse_note(doc[f"{side}_checkpoint"])
            doc[f"{side}_size"] = Checkpoint.parse(note.text).size


# --- the large log ------------------------------------------------------------------------

LOG_SIZE = int(os.environ.get("LEDGER_TEST_LOG_SIZE", "100000"))
BATCH = 2000
SHEET = 250  # events per sheet stream: a count, then attestations
CHECKPOINT_SIZES = sorted(
    {
        n
        for n in (1, 2, 3, 1023, 1024, 1025, 65536, 65537, LOG_SIZE - 1, LOG_SIZE)
        if 1 <= n <= LOG_SIZE
    }
)
SMALL = 1025  # sizes up to here are also checked against the slow RFC oracle


@pytest.fixture(scope="module")
def large_log() -> list[bytes]:
    """LOG_SIZE signed envelopes, in acceptance order (signed once for every backend).

    The election, a contest, a KPU kabupaten key and a panwas key; then sheets of
    SHEET events: a grant of a KPPS key for a new TPS, its count, and panwas
    attestations of that count.
    """
    assert LOG_SIZE >= 4, "LEDGER_TEST_LOG_SIZE must be at least 4"
    s = Scenario()
    kab, kab_grant = s.grant(s.kpu, "kpu-kab-blora", "kpu-kab", "33.16")
    panwas, panwas_grant = s.grant(s.bawaslu, "panwas-blora", "panwaslu-kec", "33.16.09")
    raws = [
        s.define_election("Pilkada Serentak 2024").raw,
        s.define_contest("bupati", "33.16", "Bupati Blora", ["Arief - Sri", "Abu - Andika"]).raw,
        kab_grant.raw,
        panwas_grant.raw,
    ]
    sheet = 0
    while len(raws) < LOG_SIZE:
        tps = f"33.16.09.{2001 + sheet // 999}/{sheet % 999 + 1:03d}"
        kpps, grant = s.grant(kab, f"kpps-{sheet}", "kpps", tps)
        count = s.count(kpps, BUPATI, tps, tally((100 + sheet % 50, 80)))
        raws += [grant.raw, count.raw]
        for i in range(SHEET - 2):
            verdict = ("agree", None) if i % 7 else ("object", f"objection {i}")
            raws.append(s.attest(panwas, BUPATI, tps, count.hash, *verdict).raw)
        sheet += 1
    return raws[:LOG_SIZE]


def _sample_leaves(size: int, rng: random.Random) -> list[int]:
    picks = {0, size // 2, size - 1, rng.randrange(size)}
    if size > 1:
        picks |= {1, size - 2}
    return sorted(picks)


# --- the contract -------------------------------------------------------------------------


class TransparencyLogContract:
    """What the log must uphold on every backend. Subclasses name the backend."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def other_url(self) -> str:
        """A second, empty database on the same backend (for forks and clean runs)."""
        raise NotImplementedError

    @pytest.fixture
    def opened(self, url: str) -> Iterator[list[Ledger]]:
        """Ledgers to close after the test (before any database is dropped)."""
        ledgers: list[Ledger] = []
        yield ledgers
        for ledger in ledgers:
            ledger.close()

    @pytest.fixture
    def world(self, url: str, opened: list[Ledger]) -> World:
        w = build_world(url)
        opened.append(w.ledger)
        return w

    @pytest.fixture
    def log(self, world: World) -> TransparencyLog:
        return TransparencyLog(world.ledger)

    @pytest.fixture
    def vkey(self, world: World) -> Verifier:
        return Verifier.parse(world.ledger.trust.log_vkey)

    # --- a large log: proofs at sizes on and off powers of two ---------------------------

    @pytest.mark.slow
    def test_a_large_log_proves_inclusion_and_consistency_at_every_size(
        self,
        url: str,
        opened: list[Ledger],
        large_log: list[bytes],
        served: tuple[Path, str],
        tmp_path: Path,
    ) -> None:
        s = Scenario()
        ledger = Ledger.create(url, s.trust())
        opened.append(ledger)
        log = TransparencyLog(ledger)
        vkey = Verifier.parse(s.trust().log_vkey)
        # The log as tiles: a static tree written after every checkpoint, served over
        # HTTP, and a mirror of it that follows at two of the checkpoints.
        root, base = served
        out = root / f"{tmp_path.name}-tiles"
        mirrored = tmp_path / "mirror"
        mirror_at = 65537 if LOG_SIZE > 65537 else CHECKPOINT_SIZES[0]

        # Build: batches of BATCH (one transaction each), cut at every checkpoint size.
        cuts = sorted(set(CHECKPOINT_SIZES) | set(range(BATCH, LOG_SIZE, BATCH)))
        notes: dict[int, bytes] = {}
        start = 0
        for cut in cuts:
            accepted = ledger.append_batch(large_log[start:cut])
            assert accepted[0].leaf_index == start and accepted[-1].leaf_index == cut - 1
            if cut in CHECKPOINT_SIZES:
                notes[cut] = log.issue_checkpoint(s.log_signer)
                written = write_tile_tree(log, out)
                assert (written.size, written.files > 0) == (cut, True)
                if cut == mirror_at:
                    assert mirror(f"{base}/{out.name}", mirrored, vkey).size == cut
            start = cut
        assert log.size() == LOG_SIZE
        assert log.checkpoints() == [notes[n] for n in CHECKPOINT_SIZES]

        # The envelopes read back from the event store, in leaf order, are the ones
        # appended; their hashes, fresh, give the reference roots at every size.
        readback = stored_envelopes(ledger)
        assert readback == large_log
        reference = merkle.MemoryNodeStore()
        roots: dict[int, bytes] = {}
        done = 0
        for n in CHECKPOINT_SIZES:
            reference.append_leaf_hashes(merkle.leaf_hash(r) for r in readback[done:n])
            roots[n], done = reference.root(), n
            if n <= SMALL:
                assert roots[n] == merkle_reference.mth(readback[:n])
            checkpoint = open_checkpoint(notes[n], vkey)
            assert (checkpoint.origin, checkpoint.size) == (s.origin, n)
            assert checkpoint.root_hash == roots[n] == log.root(n)

        # Inclusion: several leaves of every checkpointed tree.
        rng = random.Random(9162)
        for n in CHECKPOINT_SIZES:
            for i in _sample_leaves(n, rng):
                proof = merkle.inclusion_proof(i, n, ledger.log_store)
                assert proof == merkle.inclusion_proof(i, n, reference)
                if n <= SMALL:
                    assert proof == merkle_reference.path(i, readback[:n])
                assert tlog_reference.root_from_inclusion(readback[i], i, n, proof) == roots[n]
                merkle.verify_inclusion(merkle.leaf_hash(readback[i]), i, n, proof, roots[n])
            # The full signed proof (envelope + checkpoint), as JSON, for one leaf each.
            i = rng.randrange(n)
            signed = InclusionProof.from_json(log.inclusion_proof(i, n).to_json())
            assert signed.envelope == readback[i] and signed.hashes == merkle.inclusion_proof(
                i, n, reference
            )
            assert signed.verify(vkey).raw == readback[i]

        # Tiles, stored and static: full and partial ones hold the tree's hashes, the
        # root recomputed from them is every checkpoint's, the static files are the
        # bytes the log serves, and the mirror follows, refusing forks.
        self._check_large_log_tiles(log, readback, notes, out, base, mirrored, vkey, tmp_path)

        # Consistency: every pair of checkpoints.
        for a, m in enumerate(CHECKPOINT_SIZES):
            for n in CHECKPOINT_SIZES[a + 1 :]:
                consistency = ConsistencyProof.from_json(log.consistency_proof(m, n).to_json())
                assert consistency.hashes == merkle.consistency_proof(m, n, reference)
                if n <= SMALL:
                    assert consistency.hashes == merkle_reference.proof(m, readback[:n])
                assert tlog_reference.roots_from_consistency(
                    m, n, consistency.hashes, roots[m]
                ) == (
                    roots[m],
                    roots[n],
                )
                old, new = consistency.verify(vkey)
                assert (old.size, new.size) == (m, n)

    def _check_large_log_tiles(
        self,
        log: TransparencyLog,
        readback: list[bytes],
        notes: dict[int, bytes],
        out: Path,
        base: str,
        mirrored: Path,
        vkey: Verifier,
        tmp_path: Path,
    ) -> None:
        static = DirectoryTiles(out)
        levels: dict[int, list[bytes]] = {0: [merkle.leaf_hash(r) for r in readback]}
        while len(levels[len(levels) - 1]) >= tiles.TILE_WIDTH:  # the spec's formula
            below = levels[len(levels) - 1]
            levels[len(levels)] = [
                perfect_root(below[i : i + tiles.TILE_WIDTH])
                for i in range(0, len(below) - tiles.TILE_WIDTH + 1, tiles.TILE_WIDTH)
            ]

        def expected(level: int | None, index: int, width: int) -> bytes:
            first = index * tiles.TILE_WIDTH
            if level is None:
                return tiles.encode_entry_bundle(readback[first : first + width])
            return b"".join(levels[level][first : first + width])

        for n in CHECKPOINT_SIZES:
            signed = open_checkpoint(notes[n], vkey).root_hash
            assert tiles.root(n, log) == tiles.root(n, static) == signed
        for ref in tiles.tiles_of(LOG_SIZE):  # the stored tiles: as the spec defines them
            assert ref.level is not None
            want = expected(ref.level, ref.index, ref.width)
            assert log.read_tile(ref.level, ref.index, ref.width) == want, ref.path()
        if LOG_SIZE == 100_000:  # the spec's shapes: full and partial tiles on 3 levels
            assert [r.path() for r in tiles.tiles_of(LOG_SIZE)][-4:] == [
                "tile/0/390.p/160",
                "tile/1/000",
                "tile/1/001.p/134",
                "tile/2/000.p/1",
            ]
            assert [r.path() for r in tiles.tiles_of(65536)][-2:] == [
                "tile/1/000",
                "tile/2/000.p/1",
            ]
        # The static tree: every tile and bundle of every checkpoint's tree, each the
        # bytes the spec defines (and the log serves), and nothing else.
        published = {
            str(p.relative_to(out))
            for p in (out / "tile").rglob("*")
            if p.is_file() and not p.name.startswith(".")
        }
        wanted = set()
        for n in CHECKPOINT_SIZES:
            for ref in tiles.tiles_of(n):
                wanted.add(ref.path())
                if ref.level == 0:
                    wanted.add(tiles.entries_path(ref.index, ref.width))
        assert published == wanted
        for path in sorted(published):
            assert (out / path).read_bytes() == expected(*tiles.parse_tile_path(path)), path
        assert (out / tiles.entries_path(4, 1)).read_bytes() == log.read_entry_bundle(4, 1)

        # The mirror, at an earlier checkpoint, is served a forked full tile: refused.
        def mirrored_files() -> dict[str, bytes]:
            return {
                str(p.relative_to(mirrored)): p.read_bytes()
                for p in mirrored.rglob("*")
                if p.is_file()
            }

        held = mirrored_files()
        fork = out.parent / f"{out.name}-forked"
        shutil.copytree(out, fork, copy_function=os.link)  # hard links: cheap
        victim = fork / tiles.tile_path(0, (LOG_SIZE >> 8) - 1)
        honest = victim.read_bytes()
        victim.unlink()  # a new file, not a write through the shared link
        victim.write_bytes(flip(honest, 40))
        with raises_exactly(errors.RootMismatchError, "forked or corrupt tile"):
            mirror(f"{base}/{fork.name}", mirrored, vkey)
        assert mirrored_files() == held
        # The honest tree: the mirror catches up, consistent with what it held.
        caught = mirror(f"{base}/{out.name}", mirrored, vkey)
        assert caught.size == LOG_SIZE and caught.fetched > 0
        assert (
            tiles.root(LOG_SIZE, DirectoryTiles(mirrored))
            == open_checkpoint(notes[LOG_SIZE], vkey).root_hash
        )
        # Then a smaller checkpoint than the one it holds: refused.
        held = mirrored_files()
        (fork / CHECKPOINT_FILE).unlink()
        (fork / CHECKPOINT_FILE).write_bytes(notes[CHECKPOINT_SIZES[-2]])
        with raises_exactly(errors.LogShrankError, "smaller than"):
            mirror(f"{base}/{fork.name}", mirrored, vkey)
        assert mirrored_files() == held

    # --- checkpoints -------------------------------------------------------------------

    def test_a_checkpoint_is_signed_by_the_log_key_over_the_whole_log(
        self, world: World, log: TransparencyLog, vkey: Verifier
    ) -> None:
        note = log.issue_checkpoint(world.scenario.log_signer)
        checkpoint = open_checkpoint(note, vkey)
        raws = stored_envelopes(world.ledger)
        assert checkpoint.origin == world.ledger.trust.origin == vkey.name
        assert checkpoint.size == log.size() == len(raws)
        assert checkpoint.root_hash == reference_root(raws) == merkle_reference.mth(raws)
        assert [s.name for s in parse_note(note).signatures] == [vkey.name]
        assert log.latest_checkpoint() == note == log.checkpoint_at(checkpoint.size)
        # Nothing new to sign: the same note again, and nothing more stored.
        with no_new_checkpoint(world.ledger):
            assert log.issue_checkpoint(world.scenario.log_signer) == note
        # Another verifier key does not open it.
        stranger = NoteSigner(Ed25519PrivateKey.generate(), vkey.name).verifier
        with raises_exactly(errors.UnverifiedNoteError):
            open_checkpoint(note, stranger)

    def test_checkpoints_grow_with_the_log(self, world: World, log: TransparencyLog) -> None:
        first = log.issue_checkpoint(world.scenario.log_signer)
        grow(world, 5)
        second = log.issue_checkpoint(world.scenario.log_signer)
        sizes = [size for size, _ in world.ledger.log_store.checkpoints()]
        assert sizes == [len(stored_envelopes(world.ledger)) - 5, log.size()]
        assert log.checkpoints() == [first, second]

    @pytest.mark.parametrize(
        "signer",
        [
            pytest.param(
                lambda s: NoteSigner(Ed25519PrivateKey.generate(), s.origin), id="same-name"
            ),
            pytest.param(
                lambda s: NoteSigner(s.kpu, "kpu.example/root"),
                id="a-trust-root",
            ),
            pytest.param(
                lambda s: NoteSigner(s.log_signer._private_key, s.origin, SIG_TYPE_COSIGNATURE_V1),
                id="log-key-as-cosigner",
            ),
        ],
    )
    def test_the_ledger_signs_checkpoints_only_with_its_pinned_log_key(
        self, world: World, log: TransparencyLog, signer: Callable[[Scenario], NoteSigner]
    ) -> None:
        with no_new_checkpoint(world.ledger), raises_exactly(errors.CheckpointError, "log key"):
            log.issue_checkpoint(signer(world.scenario))

    @pytest.mark.parametrize("then_grow", [False, True], ids=["same-size", "after-growth"])
    def test_a_tampered_tile_table_is_never_signed(
        self, world: World, log: TransparencyLog, then_grow: bool
    ) -> None:
        log.issue_checkpoint(world.scenario.log_signer)
        # Leaf 0's hash, in the level-0 tile: under every root and proof.
        (row,) = execute(world.ledger, "SELECT hashes FROM {s}ledger_tiles WHERE level=0")
        execute(
            world.ledger,
            "UPDATE {s}ledger_tiles SET hashes=? WHERE level=0 AND idx=0",
            (bytes(32) + bytes(row["hashes"])[32:],),
        )
        if then_grow:
            grow(world, 3)
        with no_new_checkpoint(world.ledger), raises_exactly(errors.InconsistentCheckpointError):
            log.issue_checkpoint(world.scenario.log_signer)

    @pytest.mark.parametrize("where", ["last", "first"])
    def test_a_log_that_lost_a_leaf_is_never_signed(
        self, world: World, log: TransparencyLog, where: str
    ) -> None:
        log.issue_checkpoint(world.scenario.log_signer)
        index = log.size() - 1 if where == "last" else 0
        execute(world.ledger, "DELETE FROM {s}ledger_leaves WHERE leaf_index=?", (index,))
        with no_new_checkpoint(world.ledger), raises_exactly(errors.LogShrankError):
            log.issue_checkpoint(world.scenario.log_signer)

    @pytest.mark.parametrize("kept", [0, 7, 13], ids=["tile-gone", "below-(3,0)", "last-hash"])
    def test_a_log_that_lost_tile_hashes_is_never_signed(
        self, world: World, log: TransparencyLog, kept: int
    ) -> None:
        """14 leaves = 8 + 4 + 2: the root reads (3,0) (2,2) (1,6), all folded from
        the one level-0 tile; losing any of its hashes loses a node."""
        log.issue_checkpoint(world.scenario.log_signer)
        assert log.size() == 14
        (row,) = execute(world.ledger, "SELECT hashes FROM {s}ledger_tiles WHERE level=0")
        if kept:
            execute(
                world.ledger,
                "UPDATE {s}ledger_tiles SET hashes=? WHERE level=0",
                (bytes(row["hashes"])[: 32 * kept],),
            )
        else:
            execute(world.ledger, "DELETE FROM {s}ledger_tiles WHERE level=0")
        with no_new_checkpoint(world.ledger), raises_exactly(errors.InconsistentCheckpointError):
            log.issue_checkpoint(world.scenario.log_signer)
        # Nor does the log grow on a damaged tree: sequencing refuses.
        with raises_exactly(errors.ConfigurationError, match="damaged"):
            grow(world, 3)
        assert log.size() == 14

    def test_there_is_no_checkpoint_before_one_is_issued(
        self, world: World, log: TransparencyLog
    ) -> None:
        assert log.latest_checkpoint() is None
        with raises_exactly(errors.UnknownEventError, "no checkpoint yet"):
            log.inclusion_proof(0)
        with raises_exactly(errors.UnknownEventError, "no checkpoint was issued at size 3"):
            log.consistency_proof(3)
        with raises_exactly(errors.UnknownEventError, "no tree of size"):
            log.root(log.size() + 1)

    # --- inclusion proofs ----------------------------------------------------------------

    @pytest.fixture
    def inclusion(self, world: World, log: TransparencyLog) -> InclusionProof:
        grow(world, 6)  # 14 + 6 = 20 leaves: 16 + 4, not a power of two
        log.issue_checkpoint(world.scenario.log_signer)
        return log.inclusion_proof(5)

    def test_an_inclusion_proof_round_trips_through_json_and_verifies(
        self, world: World, log: TransparencyLog, vkey: Verifier, inclusion: InclusionProof
    ) -> None:
        text = inclusion.to_json()
        doc = json.loads(text)
        raws = stored_envelopes(world.ledger)
        assert doc["type"] == "inclusion"
        assert (doc["leaf_index"], doc["tree_size"]) == (5, 20)
        assert doc["event_hash"] == hashlib.sha256(raws[5]).hexdigest()
        assert base64.b64decode(doc["envelope"]) == raws[5]
        assert InclusionProof.from_json(text) == inclusion
        assert InclusionProof.from_json(text.encode()) == inclusion
        assert inclusion.verify(vkey).raw == raws[5]
        assert inclusion.hashes == merkle_reference.path(5, raws)
        # By stream position: the same proof.
        envelope = Envelope.parse(raws[5])
        by_stream = log.inclusion_proof_for(envelope.statement.stream, envelope.statement.seq)
        assert by_stream == inclusion
        with raises_exactly(errors.UnknownEventError):
            log.inclusion_proof_for(sheet_stream(BUPATI, TPS2), 1)
        with raises_exactly(errors.UnknownEventError):
            log.inclusion_proof(20)

    @pytest.mark.parametrize(
        ("tamper", "error", "restate"),
        [
            case(
                lambda d, s: d.update(leaf_index=4), errors.RootMismatchError, id="leaf_index-other"
            ),
            case(
                lambda d, s: d.update(leaf_index=20),
                errors.InclusionProofError,
                id="leaf_index-beyond",
            ),
            case(
                lambda d, s: d.update(leaf_index=-1),
                errors.InclusionProofError,
                id="leaf_index-negative",
            ),
            case(lambda d, s: d.update(leaf_index="5"), errors.FormatError, id="leaf_index-string"),
            case(lambda d, s: d.update(leaf_index=True), errors.FormatError, id="leaf_index-bool"),
            case(
                lambda d, s: d["proof"].__setitem__(2, flip(bytes.fromhex(d["proof"][2]), 7).hex()),
                errors.RootMismatchError,
                id="proof-hash-byte",
            ),
            case(lambda d, s: d["proof"].pop(), errors.InclusionProofError, id="proof-truncated"),
            case(
                lambda d, s: d["proof"].append("00" * 32),
                errors.InclusionProofError,
                id="proof-extra-hash",
            ),
            case(lambda d, s: d.update(proof=[]), errors.InclusionProofError, id="proof-empty"),
            case(
                lambda d, s: d["proof"].__setitem__(0, d["proof"][0][:-2]),
                errors.InclusionProofError,
                id="proof-short-hash",
            ),
            case(
                lambda d, s: d["proof"].__setitem__(0, "zz" * 32),
                errors.FormatError,
                id="proof-not-hex",
            ),
            case(lambda d, s: d.update(proof="00" * 32), errors.FormatError, id="proof-not-a-list"),
            case(
                # A byte of the signature: the envelope still parses, its leaf hash changes.
                lambda d, s: d.update(
                    envelope=base64.b64encode(flip(base64.b64decode(d["envelope"]), 20)).decode()
                ),
                errors.RootMismatchError,
                id="envelope-signature-byte",
            ),
            case(
                lambda d, s: d.update(
                    envelope=base64.b64encode(base64.b64decode(d["envelope"])[:-1]).decode()
                ),
                errors.FormatError,
                id="envelope-truncated",
            ),
            case(
                lambda d, s: d.update(envelope="!not base64!"),
                errors.FormatError,
                id="envelope-not-base64",
            ),
            case(
                lambda d, s: d.update(checkpoint=_edit_signature(d["checkpoint"])),
                errors.NoteError,
                id="checkpoint-signature-byte",
            ),
            case(
                lambda d, s: d.update(checkpoint=_edit_line(d["checkpoint"], 2, "A" * 43 + "=")),
                errors.NoteError,
                id="checkpoint-root-edited",
            ),
            case(
                lambda d, s: d.update(checkpoint=_edit_line(d["checkpoint"], 1, "21")),
                errors.NoteError,
                id="checkpoint-size-edited",
            ),
            case(
                lambda d, s: d.update(
                    checkpoint=resign_checkpoint(s.log_signer, s.origin, 20, bytes(32))
                ),
                errors.RootMismatchError,
                id="checkpoint-root-resigned",
            ),
            case(
                lambda d, s: d.update(
                    checkpoint=resign_checkpoint(s.log_signer, s.origin, 40, _root_of(d))
                ),
                errors.InclusionProofError,
                id="checkpoint-size-resigned",
            ),
            case(
                lambda d, s: d.update(
                    checkpoint=resign_checkpoint(
                        NoteSigner(Ed25519PrivateKey.generate(), s.origin),
                        s.origin,
                        20,
                        _root_of(d),
                    )
                ),
                errors.UnverifiedNoteError,
                id="checkpoint-by-another-key",
            ),
            case(
                lambda d, s: d.update(
                    checkpoint=resign_checkpoint(s.log_signer, "other.example/log", 20, _root_of(d))
                ),
                errors.CheckpointError,
                id="checkpoint-of-another-origin",
            ),
            case(
                lambda d, s: d.update(
                    checkpoint=sign_note("not a checkpoint\n", [s.log_signer]).decode()
                ),
                errors.CheckpointError,
                id="checkpoint-not-a-checkpoint",
            ),
            case(
                lambda d, s: d.update(checkpoint="no signatures\n"),
                errors.NoteError,
                id="checkpoint-malformed",
            ),
            case(lambda d, s: d.update(type="consistency"), errors.FormatError, id="type"),
            case(lambda d, s: d.pop("proof"), errors.FormatError, id="missing-field"),
            case(
                lambda d, s: d.update(tree_size=21),
                errors.FormatError,
                id="tree_size-field",
                restate=False,
            ),
            case(
                lambda d, s: d.update(event_hash="00" * 32),
                errors.FormatError,
                id="event_hash-field",
                restate=False,
            ),
        ],
    )
    def test_a_tampered_inclusion_proof_is_rejected_with_its_own_error(
        self,
        world: World,
        vkey: Verifier,
        inclusion: InclusionProof,
        tamper: Callable[[dict[str, Any], Scenario], Any],
        error: type[Exception],
        restate: bool,
    ) -> None:
        """Each field tampered with, the JSON's redundant fields (tree_size, event_hash)
        restated to match, as a forger would: the check that catches it is the real one."""
        doc = json.loads(inclusion.to_json())
        tamper(doc, world.scenario)
        if restate:
            _restate_inclusion(doc)
        with raises_exactly(error):
            InclusionProof.from_json(json.dumps(doc)).verify(vkey)

    @pytest.mark.parametrize(
        "text",
        ["", "not json", "[]", '{"type": "inclusion"}', '"inclusion"'],
        ids=["empty", "not-json", "a-list", "no-fields", "a-string"],
    )
    def test_an_inclusion_proof_that_is_not_one_is_a_format_error(self, text: str) -> None:
        with raises_exactly(errors.FormatError):
            InclusionProof.from_json(text)

    # --- consistency proofs --------------------------------------------------------------

    @pytest.fixture
    def two_checkpoints(self, world: World, log: TransparencyLog) -> tuple[int, int]:
        grow(world, 7)  # 21 leaves
        log.issue_checkpoint(world.scenario.log_signer)
        grow(world, 12, TPS2)  # 33 leaves
        log.issue_checkpoint(world.scenario.log_signer)
        return 21, 33

    def test_a_consistency_proof_round_trips_through_json_and_verifies(
        self,
        world: World,
        log: TransparencyLog,
        vkey: Verifier,
        two_checkpoints: tuple[int, int],
    ) -> None:
        m, n = two_checkpoints
        proof = log.consistency_proof(m, n)
        text = proof.to_json()
        doc = json.loads(text)
        assert (doc["type"], doc["old_size"], doc["new_size"]) == ("consistency", m, n)
        assert ConsistencyProof.from_json(text) == proof == log.consistency_proof(m)
        old, new = proof.verify(vkey)
        raws = stored_envelopes(world.ledger)
        assert proof.hashes == merkle_reference.proof(m, raws[:n])
        assert (old.root_hash, new.root_hash) == (
            merkle_reference.mth(raws[:m]),
            merkle_reference.mth(raws),
        )
        same = log.consistency_proof(n, n)
        assert same.hashes == []
        same.verify(vkey)
        with raises_exactly(errors.UnknownEventError, "older"):
            log.consistency_proof(n, m)

    @pytest.mark.parametrize(
        ("tamper", "error", "restate"),
        [
            case(
                lambda d: d["proof"].__setitem__(1, flip(bytes.fromhex(d["proof"][1]), 0).hex()),
                errors.RootMismatchError,
                id="proof-hash-byte",
            ),
            case(lambda d: d["proof"].pop(), errors.ConsistencyProofError, id="proof-truncated"),
            case(
                lambda d: d["proof"].append("11" * 32),
                errors.ConsistencyProofError,
                id="proof-extra-hash",
            ),
            case(lambda d: d.update(proof=[]), errors.ConsistencyProofError, id="proof-empty"),
            case(lambda d: d["proof"].__setitem__(0, "xy"), errors.FormatError, id="proof-not-hex"),
            case(
                lambda d: d.update(
                    old_checkpoint=d["new_checkpoint"], new_checkpoint=d["old_checkpoint"]
                ),
                errors.LogShrankError,
                id="swapped",
            ),
            case(
                lambda d: d.update(new_checkpoint=_edit_signature(d["new_checkpoint"])),
                errors.NoteError,
                id="new-checkpoint-signature",
            ),
            case(
                lambda d: d.update(old_checkpoint=_edit_line(d["old_checkpoint"], 1, "22")),
                errors.NoteError,
                id="old-checkpoint-size-edited",
            ),
            case(lambda d: d.update(type="inclusion"), errors.FormatError, id="type"),
            case(lambda d: d.pop("old_checkpoint"), errors.FormatError, id="missing-field"),
            case(
                lambda d: d.update(old_size=1),
                errors.FormatError,
                id="old_size-field",
                restate=False,
            ),
        ],
    )
    def test_a_tampered_consistency_proof_is_rejected_with_its_own_error(
        self,
        log: TransparencyLog,
        vkey: Verifier,
        two_checkpoints: tuple[int, int],
        tamper: Callable[[dict[str, Any]], Any],
        error: type[Exception],
        restate: bool,
    ) -> None:
        doc = json.loads(log.consistency_proof(*two_checkpoints).to_json())
        tamper(doc)
        if restate:
            _restate_consistency(doc)
        with raises_exactly(error):
            ConsistencyProof.from_json(json.dumps(doc)).verify(vkey)

    def test_an_equal_size_consistency_proof_must_be_empty(
        self, world: World, log: TransparencyLog, vkey: Verifier
    ) -> None:
        note = log.issue_checkpoint(world.scenario.log_signer)
        with raises_exactly(errors.ConsistencyProofError):
            ConsistencyProof(note, note, [bytes(32)]).verify(vkey)

    def test_two_checkpoints_of_one_size_with_different_roots_are_a_split_view(
        self, world: World, vkey: Verifier, other_url: str, opened: list[Ledger]
    ) -> None:
        fork = build_world(other_url)  # the same keys, so the same log key
        opened.append(fork.ledger)
        grow(world, 2)
        s, k = fork.scenario, fork.keys
        sheet = s.count(k["kpps"], BUPATI, TPS, tally((1, 2)))  # another count, same place
        fork.append(sheet, s.attest(k["panwas"], BUPATI, TPS, sheet.hash))
        ours = TransparencyLog(world.ledger).issue_checkpoint(world.scenario.log_signer)
        theirs = TransparencyLog(fork.ledger).issue_checkpoint(fork.scenario.log_signer)
        assert open_checkpoint(ours, vkey).size == open_checkpoint(theirs, vkey).size
        with raises_exactly(errors.RootMismatchError, "split view"):
            ConsistencyProof(ours, theirs, []).verify(vkey)

    # --- receipts ----------------------------------------------------------------------

    @pytest.fixture
    def receipt(self, world: World, log: TransparencyLog) -> Receipt:
        s, k = world.scenario, world.keys
        accepted = world.ledger.append(s.count(k["kpps"], BUPATI, TPS, tally()).raw)
        return log.receipt(accepted, s.log_signer)

    def test_a_receipt_for_an_accepted_event_verifies_with_the_log_key(
        self, world: World, vkey: Verifier, receipt: Receipt
    ) -> None:
        opened = Receipt.open(receipt.note, vkey)
        assert opened == receipt
        leaf = world.ledger.log_store.leaf_by_index(receipt.leaf_index)
        assert leaf is not None and leaf.event_hash == receipt.event_hash
        assert (leaf.stream, leaf.seq) == (sheet_stream(BUPATI, TPS), 1)
        assert receipt.origin == world.ledger.trust.origin
        assert parse_note(receipt.note).text == Receipt.text(
            receipt.origin, receipt.leaf_index, receipt.event_hash
        )

    @pytest.mark.parametrize(
        ("forge", "error"),
        [
            pytest.param(
                lambda r, s: sign_note(
                    _receipt_text(r), [NoteSigner(Ed25519PrivateKey.generate(), s.origin)]
                ),
                errors.UnverifiedNoteError,
                id="another-key-same-name",
            ),
            pytest.param(
                lambda r, s: sign_note(_receipt_text(r), [NoteSigner(s.kpu, "kpu.example/root")]),
                errors.UnverifiedNoteError,
                id="another-key-and-name",
            ),
            pytest.param(
                lambda r, s: _swap_text(r.note, _receipt_text(r, index=r.leaf_index + 1)),
                errors.NoteError,
                id="altered-leaf-index",
            ),
            pytest.param(
                lambda r, s: _swap_text(r.note, _receipt_text(r, event_hash=flip(r.event_hash, 0))),
                errors.NoteError,
                id="altered-hash",
            ),
            pytest.param(
                lambda r, s: sign_note(_receipt_text(r, index=f"0{r.leaf_index}"), [s.log_signer]),
                errors.FormatError,
                id="index-leading-zero",
            ),
            pytest.param(
                lambda r, s: sign_note(_receipt_text(r, index=f"+{r.leaf_index}"), [s.log_signer]),
                errors.FormatError,
                id="index-signed",
            ),
            pytest.param(
                # The last base64 digit carries 2 spare bits: set one, same decoded bytes.
                lambda r, s: sign_note(
                    _receipt_text(r, b64=_noncanonical_b64(r.event_hash)), [s.log_signer]
                ),
                errors.FormatError,
                id="hash-non-canonical-base64",
            ),
            pytest.param(
                lambda r, s: sign_note(
                    _receipt_text(r, event_hash=r.event_hash[:31]), [s.log_signer]
                ),
                errors.FormatError,
                id="hash-31-bytes",
            ),
            pytest.param(
                lambda r, s: sign_note(_receipt_text(r) + "extra\n", [s.log_signer]),
                errors.FormatError,
                id="extra-line",
            ),
            pytest.param(
                lambda r, s: sign_note(_receipt_text(r).replace("v1", "v2", 1), [s.log_signer]),
                errors.FormatError,
                id="header",
            ),
            pytest.param(
                lambda r, s: sign_note(
                    _receipt_text(r, origin="other.example/log"), [s.log_signer]
                ),
                errors.FormatError,
                id="another-origin",
            ),
            pytest.param(
                lambda r, s: sign_note(
                    Checkpoint(s.origin, 1, r.event_hash).to_text(), [s.log_signer]
                ),
                errors.FormatError,
                id="a-checkpoint-is-not-a-receipt",
            ),
            pytest.param(lambda r, s: r.note[:-2], errors.NoteError, id="truncated"),
        ],
    )
    def test_a_forged_or_non_canonical_receipt_is_rejected(
        self,
        world: World,
        vkey: Verifier,
        receipt: Receipt,
        forge: Callable[[Receipt, Scenario], bytes],
        error: type[Exception],
    ) -> None:
        with raises_exactly(error):
            Receipt.open(forge(receipt, world.scenario), vkey)

    # --- witnessing --------------------------------------------------------------------

    def test_a_witness_cosigns_the_growing_log_and_refuses_a_fork(
        self,
        world: World,
        log: TransparencyLog,
        vkey: Verifier,
        tmp_path: Path,
        other_url: str,
        opened: list[Ledger],
    ) -> None:
        s = world.scenario
        state = tmp_path / "witness-state"
        state.mkdir()
        witness = Witness(s.witness_signer, state, {s.origin: vkey})
        wkey = s.witness_signer.verifier

        cp1 = log.issue_checkpoint(s.log_signer)
        line = witness.cosign(cp1, [], now=NOW)
        first = witness.state(s.origin)
        assert first is not None and first.note == cp1 + line
        stored = log.add_cosignatures(first.note, [wkey])
        assert log.checkpoint_at(first.size) == stored
        assert verify_cosigned(stored, vkey, [wkey]).size == first.size

        sheet = grow(world, 9)
        cp2 = log.issue_checkpoint(s.log_signer)
        proof = log.consistency_proof(first.size)
        assert proof.new == cp2 and proof.old == stored  # the stored, cosigned note
        witness.cosign(cp2, proof.hashes, now=NOW + 60)
        second = witness.state(s.origin)
        assert second is not None and second.size == first.size + len(sheet)
        log.add_cosignatures(second.note, [wkey])
        cosigned = log.checkpoint_at(second.size)
        checkpoint = verify_cosigned(cosigned, vkey, [wkey])
        assert checkpoint == open_checkpoint(cp2, vkey)
        # Both checkpoints of the proof now carry the cosignature.
        both = log.consistency_proof(first.size, second.size)
        for note in (both.old, both.new):
            verify_cosigned(note, vkey, [wkey])
        # Cosigning the same checkpoint again is allowed; storing is idempotent.
        witness.cosign(cp2, [], now=NOW + 120)
        assert log.add_cosignatures(second.note, [wkey]) == cosigned

        # A fork: the same keys, another event at the position of our first new leaf.
        fork = build_world(other_url)
        opened.append(fork.ledger)
        fork_log = TransparencyLog(fork.ledger)
        fs, fk = fork.scenario, fork.keys
        fork_cp1 = fork_log.issue_checkpoint(fs.log_signer)
        assert fork_cp1 == cp1  # identical history so far: identical note
        rival = fs.count(fk["kpps"], BUPATI, TPS, tally((1, 2)))
        fork.append(rival, *[fs.attest(fk["panwas"], BUPATI, TPS, rival.hash) for _ in range(8)])
        fork_cp2 = fork_log.issue_checkpoint(fs.log_signer)  # same size as cp2
        assert open_checkpoint(fork_cp2, vkey).size == second.size
        with raises_exactly(errors.InconsistentCheckpointError, "different root"):
            witness.cosign(fork_cp2, [], now=NOW + 180)
        # ... nor when it is larger, with a proof from the fork's own history.
        fork.append(fs.attest(fk["panwas"], BUPATI, TPS, rival.hash))
        fork_log.issue_checkpoint(fs.log_signer)
        fork_proof = fork_log.consistency_proof(second.size)
        with raises_exactly(errors.InconsistentCheckpointError, "not proven consistent"):
            witness.cosign(fork_proof.new, fork_proof.hashes, now=NOW + 240)
        # ... nor the fork's proof presented as one of our log: the fork's checkpoint
        # of our size does not match the one this log's checkpoint at that size.
        with raises_exactly(errors.RootMismatchError, "split view"):
            ConsistencyProof(cp2, fork_cp2, []).verify(vkey)
        latest = witness.state(s.origin)
        assert latest is not None and latest.root_hash == checkpoint.root_hash

    def test_only_a_cosigned_issued_checkpoint_is_stored(
        self, world: World, log: TransparencyLog, vkey: Verifier, tmp_path: Path
    ) -> None:
        s = world.scenario
        wkey = s.witness_signer.verifier
        note = log.issue_checkpoint(s.log_signer)
        witness = Witness(s.witness_signer, tmp_path, {s.origin: vkey})
        cosigned = note + witness.cosign(note, [], now=NOW)
        with no_new_checkpoint(world.ledger), raises_exactly(errors.UnverifiedNoteError):
            log.add_cosignatures(note, [wkey])  # no cosignature on it
        stranger = NoteSigner(
            Ed25519PrivateKey.generate(), "stranger.example/witness", SIG_TYPE_COSIGNATURE_V1
        )
        with no_new_checkpoint(world.ledger), raises_exactly(errors.UnverifiedNoteError):
            log.add_cosignatures(cosigned, [stranger.verifier])
        # A log-signed checkpoint the log never issued (another root, same size).
        size = open_checkpoint(note, vkey).size
        forged = resign_checkpoint(s.log_signer, s.origin, size, bytes(32)).encode()
        forged = Note(
            parse_note(forged).text,
            (*parse_note(forged).signatures, parse_note(cosigned).signatures[-1]),
        ).to_bytes()
        with no_new_checkpoint(world.ledger), raises_exactly(errors.CheckpointError):
            log.add_cosignatures(forged, [wkey])
        stored = log.add_cosignatures(cosigned, [wkey])
        assert verify_cosigned(stored, vkey, [wkey]).size == size

    # --- the sequencer -----------------------------------------------------------------

    def test_leaf_indexes_are_contiguous_and_in_notification_order(self, world: World) -> None:
        grow(world, 4)
        leaves = world.ledger.log_store.leaves(0, world.ledger.log_store.log_size())
        assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves)))
        ids = [leaf.notification_id for leaf in leaves]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert world.ledger.sequence() == len(leaves)  # nothing pending: a no-op

    @pytest.mark.parametrize(
        ("target", "fail_on"),
        [("record_leaves", 3), ("_insert_tracking", 2)],
        ids=["between-transactions", "inside-the-transaction"],
    )
    def test_a_sequencer_crash_loses_nothing_and_changes_nothing(
        self,
        world: World,
        other_url: str,
        opened: list[Ledger],
        monkeypatch: pytest.MonkeyPatch,
        target: str,
        fail_on: int,
    ) -> None:
        """A crash mid-sequence (after some pages were recorded, or inside a page's
        transaction after its leaves were inserted): the next sequence() makes the
        log exactly what a run without the crash makes."""
        s, k = world.scenario, world.keys
        batch = [s.count(k["kpps"], BUPATI, TPS, tally())]
        batch += [s.attest(k["panwas"], BUPATI, TPS, batch[0].hash) for _ in range(10)]
        before = world.ledger.log_store.log_size()

        monkeypatch.setattr(sequencer, "PAGE", 3)
        store: Any = world.ledger.log_store
        original = getattr(store, target)
        calls = 0

        def crashing(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == fail_on:
                raise RuntimeError("simulated crash")
            return original(*args, **kwargs)

        monkeypatch.setattr(store, target, crashing)
        with pytest.raises(RuntimeError, match="simulated crash"):
            world.ledger.append_batch([e.raw for e in batch])
        monkeypatch.undo()
        assert world.ledger.log_store.log_size() == before + 3 * (fail_on - 1)
        # The events are stored; the sequencer resumes from its tracking position.
        assert world.ledger.sequence() == before + len(batch)

        clean = build_world(other_url)
        opened.append(clean.ledger)
        clean.ledger.append_batch([e.raw for e in batch])
        assert log_state(world.ledger) == log_state(clean.ledger)
        ours = TransparencyLog(world.ledger).issue_checkpoint(s.log_signer)
        theirs = TransparencyLog(clean.ledger).issue_checkpoint(clean.scenario.log_signer)
        assert ours == theirs
        assert stored_envelopes(world.ledger) == stored_envelopes(clean.ledger)


# --- helpers for the tamper tables ------------------------------------------------------


def _edit_line(note: str, line: int, value: str) -> str:
    """Replace a line of the note's text, keeping its (now stale) signatures."""
    parsed = parse_note(note)
    lines = parsed.text.split("\n")
    lines[line] = value
    return Note("\n".join(lines), parsed.signatures).to_bytes().decode()


def _edit_signature(note: str) -> str:
    parsed = parse_note(note)
    sig = parsed.signatures[0]
    bad = type(sig)(sig.name, sig.key_id, flip(sig.blob, 10))
    return Note(parsed.text, (bad, *parsed.signatures[1:])).to_bytes().decode()


def _root_of(doc: dict[str, Any]) -> bytes:
    return Checkpoint.parse(parse_note(doc["checkpoint"]).text).root_hash


def _receipt_text(
    r: Receipt,
    *,
    index: int | str | None = None,
    event_hash: bytes | None = None,
    b64: str | None = None,
    origin: str | None = None,
) -> str:
    digest = base64.b64encode(r.event_hash if event_hash is None else event_hash).decode()
    return (
        f"{RECEIPT_HEADER}\n{origin or r.origin}\n{r.leaf_index if index is None else index}\n"
        f"{digest if b64 is None else b64}\n"
    )


def _swap_text(note: bytes, text: str) -> bytes:
    return Note(text, parse_note(note).signatures).to_bytes()


def _noncanonical_b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()  # 32 bytes: 43 digits and "="
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[42])
    odd = text[:42] + alphabet[last | 1 if last & 1 == 0 else last & ~1] + text[43:]
    assert base64.b64decode(odd) == data and odd != text
    return odd


# --- backends -----------------------------------------------------------------------------


class TestTransparencyLogOnSQLite(TransparencyLogContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def other_url(self, tmp_path: Path) -> str:
        return f"sqlite:{tmp_path / 'other.db'}"


@pytest.mark.postgres
class TestTransparencyLogOnPostgres(TransparencyLogContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def other_url(self, other_postgres_url: str) -> str:
        return other_postgres_url

    def test_leaf_indexes_stay_contiguous_across_notification_id_gaps(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PostgreSQL notification ids have gaps (a rolled-back insert consumes one)."""
        ledger = world.ledger
        s, k = world.scenario, world.keys
        table = f'"{ledger.config.schema}".ledger_events'
        (row,) = execute(
            ledger, "SELECT pg_get_serial_sequence(?, 'notification_id') AS seq", (table,)
        )
        for _ in range(3):
            execute(ledger, "SELECT nextval(?)", (row["seq"],))
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        first = ledger.append(count.raw)
        # A second gap the natural way: a conflicting insert that fails after taking
        # a notification id (the append lock bypassed, the stream read stale).
        stream = sheet_stream(BUPATI, TPS)
        stale = ledger._load(stream)
        second = ledger.append(s.attest(k["saksi1"], BUPATI, TPS, count.hash).raw)
        s.chain.follow(stream, 1, count.hash)
        rival = s.attest(k["saksi2"], BUPATI, TPS, count.hash)
        monkeypatch.setattr(
            ledger,
            "_load",
            lambda stream_id: stale if stream_id == stream else Ledger._load(ledger, stream_id),
        )
        monkeypatch.setattr(ledger.log_store, "append_lock", nullcontext)
        with raises_exactly(errors.StaleHeadError):
            ledger.append(rival.raw)
        monkeypatch.undo()
        s.chain.follow(stream, *ledger.head(stream))
        third = ledger.append(s.attest(k["saksi2"], BUPATI, TPS, count.hash).raw)

        assert [first.leaf_index, second.leaf_index, third.leaf_index] == [14, 15, 16]
        leaves = ledger.log_store.leaves(0, ledger.log_store.log_size())
        assert [leaf.leaf_index for leaf in leaves] == list(range(17))
        ids = [leaf.notification_id for leaf in leaves]
        assert ids[14] - ids[13] == 4, "nextval x3 left a gap of three ids"
        assert ids[16] - ids[15] == 2, "the failed insert consumed an id"
        note = TransparencyLog(ledger).issue_checkpoint(s.log_signer)
        assert Checkpoint.parse(parse_note(note).text).root_hash == merkle_reference.mth(
            stored_envelopes(ledger)
        )
