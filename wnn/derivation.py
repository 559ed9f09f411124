"""Everything a user's network derives from its stored pairs and the item space as it is now, kept up to date.

A network stores its pairs only (:mod:`wnn.pairs`). From them and the item space it derives, per pair, the residual
rating against the item's baseline (integer units of 1/256 star), the item's code (hence its addresses) and the Q
state before it; then the taste window (:mod:`wnn.taste_change`), the Q state after the last pair and the Z tables
(:mod:`wnn.memory`). :class:`Derivation` holds those values and keeps them equal to what :meth:`Derivation.rebuild`
computes from scratch:

* :meth:`~Derivation.reconcile`, before every read, re-reads the pairs whose items changed since the last read (the
  item space stamps each item with the generation of its latest change): their residuals and codes; the taste
  window if a residual moved (a rescan); the tables, by moving what each such pair wrote to where and what it writes
  now, or by counting the window afresh when the window start moved or many pairs did. Integer tables make the
  patched state equal the rebuilt one bit for bit (a hypothesis property checks it).
* A change of an item's content bits (a catalogue update) moves its addresses and its Q channel, and Q runs through
  every later pair: a network holding such an item derives everything again at its next read.
* :meth:`~Derivation.append` folds in a pair just stored, with one step of the detector and one table write.
* :meth:`~Derivation.drop` follows a deletion of pairs: everything is derived again before the next read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wnn import drift, taste_change
from wnn.item_space import ItemSpace
from wnn.kernels import derivation as kernels
from wnn.kernels import mode
from wnn.kernels import pooled as pooled_kernels
from wnn.kernels.pooled import NO_LIKES, NO_PAIR_CELLS, NO_TABLE, NO_UNITS
from wnn.memory import CountingMemory, scratch_table
from wnn.pairs import DERIVED_COLUMNS, PairLog
from wnn.recurrence import next_state, states_before
from wnn.residuals import RESIDUAL_QUANTUM, residual_units
from wnn.taste_change import REFERENCE_PRIOR

#: A network whose taste window holds at most this many pairs keeps no Z tables (with the compiled kernels): a read
#: adds up the window's pairs instead (:func:`wnn.kernels.pooled.pooled_items`), the same integers a table would hold.
#: A table costs ~67 KB whatever the pairs; a user with a few dozen ratings then costs what their pairs cost. A
#: one-item read adds up ~0.1 us per window pair instead of one lookup per neuron: at 64, 1,000,000 Zipf users held
#: 4.3 times as many users in the same cache as at 16 at the same speed, for ~5% more time a rating on ML-100K.
TABLE_FROM_PAIRS = 64

#: A run of at least this many ratings into a network that keeps no table counts the window into a scratch table
#: first (~3 us), so that each of its predictions reads 64 cells instead of adding up every pair of the window (on
#: ML-100K a no-table rating then costs what a table rating costs in the kernel, 2.1 us instead of 5.3 us).
RUN_SCRATCH_FROM = 3

#: A network of at most this many pairs keeps no long-run genre mix for its taste shift: it is added up afresh when
#: asked for (about a microsecond), so a small user does not hold an array for it.
MIX_FROM_PAIRS = 64
#: What a small numpy array costs beyond its data (the object and the allocator's header; measured with tracemalloc).
ARRAY_BYTES = 112


class Derivation:
    """The derived state of one network over ``pairs`` (read, never written, here)."""

    __slots__ = (
        "_allowance",
        "_cfg",
        "_content_synced",
        "_detect",
        "_held_array",
        "_like",
        "_mix_pairs",
        "_mix_total",
        "_stale",
        "_synced",
        "_threshold",
        "_window",
        "memory",
        "pairs",
        "space",
        "state",
    )

    def __init__(self, space: ItemSpace, pairs: PairLog) -> None:
        self.space = space
        cfg = self._cfg = space.config
        self.pairs = pairs
        self.memory = CountingMemory(cfg)
        # Stored ratings are float32 values. The threshold rounded to float32 compares with them alike in float32
        # (numpy's rule for a float32 array against a Python float) and in float64 (the kernels, Python), so every
        # path agrees on which pairs are likes, also where the scale's threshold is not a float32 value.
        self._like = float(np.float32(cfg.like_threshold))
        self._detect = cfg.drift_threshold is not None
        # The detector's allowance and threshold are in stars of the rating scale.
        star = cfg.rating_scale.star
        self._allowance = cfg.drift_allowance * star
        self._threshold = (cfg.drift_threshold or 0.0) * star
        # The taste window (the tables hold the pairs from its start on), as the kernels keep it: float64 start,
        # total, pairs, rise, rise_min, fall, fall_min, rise_from, fall_from, seen (integers are exact in float64).
        self._window = np.zeros(len(taste_change.WindowState._fields))
        self.state = 0  # Q after the last pair
        self._synced = -1  # the space's generation the derived state was last brought up to date with
        self._content_synced = space.content_changes.generation  # and its content generation (catalogue updates)
        self._held_array: np.ndarray | None = None  # the pairs' distinct items, for reconcile's lookups (derived)
        self._stale = pairs.n > 0  # must be rebuilt from the pairs before the next read
        # The sum of the pairs' genre mixes so far (the taste shift's long-run mix) and how many pairs it holds.
        self._mix_total: np.ndarray | None = None
        self._mix_pairs = 0

    @property
    def window(self) -> taste_change.WindowState:
        """The taste-change detector's state after the stored pairs."""
        w = self._window.tolist()
        return taste_change.WindowState(
            int(w[0]), int(w[1]), int(w[2]), w[3], w[4], w[5], w[6], int(w[7]), int(w[8]), int(w[9])
        )

    @property
    def like_threshold(self) -> float:
        """A stored rating at or above it is a like (the scale's like threshold as a float32 value)."""
        return self._like

    @property
    def window_start(self) -> int:
        """Position of the first pair the tables hold."""
        return int(self._window[0])

    @property
    def kept_bytes(self) -> int:
        """The bytes of what this derivation keeps only for some networks: the Z tables and the long-run genre mix
        (with an array object's own bytes)."""
        mix = self._mix_total
        return self.memory.nbytes + (0 if mix is None else mix.nbytes + ARRAY_BYTES)

    @property
    def keeps_table(self) -> bool:
        """Whether the Z tables are kept (else reads add up the window's pairs; always kept by the reference)."""
        return self.memory.table is not None

    def _wants_table(self) -> bool:
        return not mode.compiled() or self.pairs.n - self.window_start > TABLE_FROM_PAIRS

    def table(self) -> np.ndarray | None:
        """The Z tables: the kept ones, else counted afresh from the window's pairs (a new array); None without
        pairs."""
        if self.memory.table is not None or not self.pairs.n:
            return self.memory.table
        counted = CountingMemory(self._cfg)
        self._count_window(counted)
        return counted.table

    def kernel_memory(self, many: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the read kernels take (:func:`wnn.kernels.pooled.pooled_items`): the table, and the window's pairs for
        a network that keeps no table (the cells each pair wrote to, its residual units, its like flag). For ``many``
        reads (a list) such a network's table is counted into a scratch table first (a few microseconds) so each
        read is one lookup; for a few reads, each adds up the pairs."""
        table = self.memory.table
        if table is not None:
            return table, NO_PAIR_CELLS, NO_UNITS, NO_LIKES
        window = slice(self.window_start, self.pairs.n)
        items, q_before = self.pairs.items[window], self.pairs.column("q_before")[window]
        units, liked = self.pairs.column("units")[window], self.pairs.ratings[window] >= self._like
        layout = self.memory.layout
        if many:
            scratch = scratch_table(layout.size)
            kernels.rebuild_tables(
                scratch, self.space.cell_base, layout.state_shift, items, units, liked, self.space.channels,
                q_before.copy(),
            )  # fmt: skip
            return scratch, NO_PAIR_CELLS, NO_UNITS, NO_LIKES
        cells = pooled_kernels.window_cells(self.space.cell_base, layout.state_shift, items, q_before)
        return NO_TABLE, cells, units, liked

    def genre_mix_total(self) -> np.ndarray:
        """The sum of every stored pair's genre mix, oldest first (:func:`wnn.drift.genre_mixes`): the long-run mix of
        the taste shift. Kept up as pairs are appended, by a network of more than :data:`MIX_FROM_PAIRS` pairs: the
        rows are added in order, so the running sum equals the sum over all pairs bit for bit; a deletion or a
        catalogue update of a held item starts it again (the caller reconciles first)."""
        n, slots = self.pairs.n, self._cfg.n_genre_slots
        if n <= MIX_FROM_PAIRS:  # not kept: added up afresh, in the same order, each time it is asked for
            total = np.zeros(slots)
            drift.add_genre_mixes(self.space.bits, slots, self.pairs.items, 0, n, total)
            return total
        if self._mix_total is None or self._mix_pairs > n:
            self._mix_total, self._mix_pairs = np.zeros(slots), 0
        if self._mix_pairs < n:
            drift.add_genre_mixes(self.space.bits, slots, self.pairs.items, self._mix_pairs, n, self._mix_total)
            self._mix_pairs = n
        return self._mix_total

    def taste_shift(self) -> float:
        """The taste shift of the stored pairs (:func:`wnn.drift.taste_shift`) from the kept-up long-run mix; the
        caller reconciles first."""
        long_run = self.genre_mix_total()
        return drift.shift_from(long_run, self.space.bits, self._cfg.n_genre_slots, self.pairs.items, self.pairs.n)

    def column(self, name: str) -> np.ndarray:
        """A per-pair column for the stored pairs (a view; valid after :meth:`reconcile`)."""
        return self.pairs.column(name)

    # ------------------------------------------------------------------ keeping up
    def reconcile(self) -> None:
        """Bring every derived value up to date, exactly as :meth:`rebuild` would. Costs one integer comparison when
        nothing changed, and one look at the stamps of the network's items when something did
        (:class:`wnn.item_versions.ItemVersions`; the kernels test every pair's item in one compiled pass, the
        reference the distinct items), however long ago the network last read."""
        space = self.space
        if self._stale:
            self.rebuild()
            return
        if self._synced == space.changes.generation:
            return
        if self._content_synced != space.content_changes.generation:
            # An item's content bits changed (a catalogue update): its addresses and Q channel moved, and Q runs
            # through every later pair, so a network holding such an item derives everything again.
            if len(space.content_changes.changed_since(self._content_synced, self._held_items())):
                self.rebuild()
                return
            self._content_synced = space.content_changes.generation
        code_cells = space.code_addresses.cells() if mode.compiled() else None
        if code_cells is not None:
            positions = kernels.changed_positions(space.changes.stamps, self._synced, self.pairs.items, self.pairs.n)
            if len(positions):
                self._patch_compiled(positions, code_cells)
            self._synced = space.changes.generation
            return
        held = self._held_items()
        hits = space.changes.changed_since(self._synced, held)
        if len(hits) * 4 > len(held):
            self._patch(np.arange(self.pairs.n))  # many of its items: read every pair again (vectorised)
        elif len(hits):
            self._patch(np.flatnonzero(np.isin(self.pairs.items, hits)))
        self._synced = space.changes.generation

    def _held_items(self) -> np.ndarray:
        """The distinct items of the stored pairs (cached until a pair is added or removed)."""
        if self._held_array is None:
            self._held_array = np.unique(self.pairs.items)
        return self._held_array

    def rebuild(self) -> None:
        """Derive everything from the stored pairs and the item space as it is now."""
        log, space = self.pairs, self.space
        items = log.items
        log.column("units")[:] = residual_units(log.ratings, space.baselines(items))
        log.column("codes")[:] = space.dynamic_codes[items]
        self._held_array = None
        self._mix_total = None
        self._window[:] = self._scan()
        self._rebuild_tables()
        self._synced, self._stale = space.changes.generation, False
        self._content_synced = space.content_changes.generation

    def drop(self, keep: np.ndarray) -> None:
        """Follow a deletion of pairs (``keep``: which of the old pairs remain): derive again before the next read."""
        self._stale = True  # everything after the deleted pairs changes
        self._mix_total = None

    def append(self, idx: int, rating: float) -> bool:
        """Fold in the pair just appended to the pairs (item ``idx``, float32 ``rating``), against the item's
        baseline now; the derived state must be reconciled before the pair was appended. Returns whether the pair
        restarted the taste window."""
        log, space = self.pairs, self.space
        n = log.n - 1
        self._held_array = None
        if mode.compiled():
            table = self.memory.table
            self.state, restarted = kernels.append_pair(
                log.room("units"), log.room("codes"), log.room("q_before"), n, idx, rating, self._like, space.counts,
                space.sums, space.kernel_constants, space.dynamic_codes,
                NO_TABLE if table is None else table, space.cell_base, self.memory.layout.state_shift,
                space.channels, self.state, self._window, self._detect, self._allowance, self._threshold,
                REFERENCE_PRIOR,
            )  # fmt: skip
        else:
            restarted = self._append_reference(n, idx, rating)
        if restarted or self.keeps_table != self._wants_table():
            self._rebuild_tables()
        return restarted

    def run_kernel_arguments(self, ratings_ahead: int) -> tuple[Any, ...]:
        """What :func:`wnn.kernels.runs.learn_run` takes of this derivation (after the pairs' columns and count) for
        a run of ``ratings_ahead`` ratings: Q, the taste window (updated in place), the tables (or none), a scratch
        table for a network that keeps none when the run is long enough (:data:`RUN_SCRATCH_FROM`), the Q shifts,
        the like threshold, the taste window's settings, the window size from which a table is kept, and the size
        limit (``max_pairs``)."""
        table = self.memory.table
        scratch = NO_TABLE
        if table is None and ratings_ahead >= RUN_SCRATCH_FROM:
            scratch = scratch_table(self.memory.layout.size)
        return (
            self.state, self._window, NO_TABLE if table is None else table, scratch, self.memory.layout.state_shift,
            self._like, self._detect, self._allowance, self._threshold, REFERENCE_PRIOR, TABLE_FROM_PAIRS,
            self._cfg.max_pairs,
        )  # fmt: skip

    def appended_run(self, state: int, rebuild_tables: bool) -> None:
        """Follow pairs a compiled run appended (:func:`wnn.kernels.runs.learn_run`): Q after them, and the tables
        counted afresh where the run said so (as :meth:`append` does). The run read the item space as it is after
        its ratings, so the derivation is in step with it."""
        self.state = state
        self._held_array = None
        self._synced = self.space.changes.generation
        if rebuild_tables:
            self._rebuild_tables()

    def _append_reference(self, n: int, idx: int, rating: float) -> bool:
        """:meth:`append` in numpy and Python (the specification of :func:`wnn.kernels.derivation.append_pair`)."""
        space, log = self.space, self.pairs
        units = round((rating - space.baseline(idx)) * 256.0)  # residual_units() of one rating
        liked = rating >= self._like
        q = self.state
        log.column("units")[n], log.column("codes")[n], log.column("q_before")[n] = units, space.dynamic_codes[idx], q
        if self.memory.table is None and n:  # kept without a table by the kernels: count it all, this pair too
            self._count_window(self.memory)
        else:
            self.memory.write(space.cell_base[idx], q, units, liked)
        self.state = next_state(q, int(space.channels[idx]), liked)
        if not self._detect:
            return False
        start = self._window[0]
        self._window[:] = taste_change.step(self.window, units, self._allowance, self._threshold, log.column("units"))
        return bool(self._window[0] != start)

    # ------------------------------------------------------------------ the pieces
    def _scan(self) -> taste_change.WindowState | np.ndarray:
        """The taste window after every stored pair (as a tuple or as the kernels' array)."""
        if not self._detect:
            return taste_change.WindowState()
        if mode.compiled():
            return kernels.scan(self.column("units"), self._allowance, self._threshold, REFERENCE_PRIOR)
        return taste_change.scan(self.column("units"), self._allowance, self._threshold)

    def residuals(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Residual ratings of pairs ``start..stop-1`` in stars (exact: units of 1/256)."""
        return self.pairs.column("units")[start:stop] * RESIDUAL_QUANTUM

    def _rebuild_tables(self) -> None:
        """The tables (if the network keeps them) and Q from the pairs of the taste window, with their current
        residuals and addresses."""
        if not self.pairs.n:  # no pairs (all forgotten): the memory of a network that never learned anything
            self.memory.clear()
            self.state = 0
            return
        if self._wants_table():
            self._count_window(self.memory)
        else:
            self.memory.clear()
            self._count_window(None)

    def _count_window(self, memory: CountingMemory | None) -> None:
        """Replay Q over the window's pairs (setting ``q_before`` and :attr:`state`) and count them into
        ``memory``'s table from zero (None: only Q)."""
        log, space, cfg = self.pairs, self.space, self._cfg
        window = slice(self.window_start, log.n)
        items = log.items[window]
        liked = log.ratings[window] >= self._like
        if mode.compiled():
            self.state = kernels.rebuild_tables(
                NO_TABLE if memory is None else memory.ensure(),
                space.cell_base,
                self.memory.layout.state_shift,
                items,
                log.column("units")[window],
                liked,
                space.channels,
                log.column("q_before")[window],
            )
            return
        before, self.state = states_before(liked, space.channels[items], cfg.n_state_bits)
        log.column("q_before")[window] = before
        if memory is not None:
            cells = memory.layout.cells(space.addresses[items].astype(np.int64), before)
            memory.rebuild(cells, log.column("units")[window], liked)

    def _materialize(self) -> None:
        """Give a network that keeps no table (built by the kernels) its table, before the reference writes it."""
        if self.memory.table is None and self.pairs.n:
            self._count_window(self.memory)

    def _patch(self, changed: np.ndarray) -> None:
        """Re-read the pairs at positions ``changed``, whose items may have changed (see :meth:`reconcile`)."""
        code_cells = self.space.code_addresses.cells() if mode.compiled() else None
        if code_cells is not None:
            self._patch_compiled(changed, code_cells)
            return
        log, space = self.pairs, self.space
        columns = {name: log.column(name) for name in DERIVED_COLUMNS}
        items = log.items[changed]
        units = residual_units(log.ratings[changed], space.baselines(items))
        codes = space.dynamic_codes[items]
        old_units, old_codes = columns["units"][changed], columns["codes"][changed]
        moved = (units != old_units) | (codes != old_codes)
        if not moved.any():
            return
        residual_moved = bool((units != old_units).any())
        changed, items, units, codes = changed[moved], items[moved], units[moved], codes[moved]
        old_units, old_codes = old_units[moved], old_codes[moved]
        columns["units"][changed] = units
        columns["codes"][changed] = codes
        inside = self._to_move(changed, residual_moved)
        if inside is None:
            return
        changed, items = changed[inside], items[inside]
        q = columns["q_before"][changed].astype(np.int64)
        liked = log.ratings[changed] >= self._like
        layout = self.memory.layout
        old_cells = layout.cells(space.addresses_for(items, old_codes[inside]), q)
        new_cells = layout.cells(space.addresses[items].astype(np.int64), q)
        if not mode.compiled():
            if self.memory.table is None:  # kept without a table by the kernels: count it, from the new values
                self._materialize()
            else:
                self.memory.move(old_cells, new_cells, old_units[inside], units[inside], liked)
        elif self.memory.table is not None:
            kernels.move_pairs(self.memory.table, old_cells, new_cells, old_units[inside], units[inside], liked)

    def _to_move(self, moved: np.ndarray, residual_moved: bool) -> np.ndarray | None:
        """After the pairs at positions ``moved`` took new residuals or codes: rescan the window if a residual moved,
        and count the tables afresh if its start moved or many of its pairs did. Returns which of ``moved`` still
        have to be moved in the tables, or None when nothing is left to do."""
        if residual_moved and self._detect:
            start = self._window[0]
            self._window[:] = self._scan()
            if self._window[0] != start:
                self._rebuild_tables()
                return None
        if mode.compiled() and self.memory.table is None:
            # The reads add up the pairs' columns, which hold the new values already; Q does not read residuals or
            # codes, so the window's Q states stand as they are.
            return None
        inside = moved >= self.window_start
        n_inside = int(inside.sum())
        if not n_inside:
            return None
        if n_inside * 4 > self.pairs.n - self.window_start:
            self._rebuild_tables()  # many pairs moved: counting the window afresh is cheaper than moving them
            return None
        return inside

    def _patch_compiled(self, changed: np.ndarray, code_cells: np.ndarray) -> None:
        """:meth:`_patch` with the kernels: the same decisions, made in one compiled call
        (:func:`wnn.kernels.derivation.patch_pairs`)."""
        log, space = self.pairs, self.space
        table = self.memory.table
        outcome = kernels.patch_pairs(
            changed.astype(np.int64, copy=False), log.items, log.ratings, log.n, log.room("units"), log.room("codes"),
            log.room("q_before"), space.counts, space.sums, space.kernel_constants, space.dynamic_codes, self._window,
            self._detect, self._allowance, self._threshold, REFERENCE_PRIOR, NO_TABLE if table is None else table,
            self._like, space.static_addresses, code_cells, space.cell_base, self.memory.layout.state_shift,
        )  # fmt: skip
        if outcome == kernels.COUNT_AFRESH:
            self._rebuild_tables()
