"""Why a user's network predicted what it did for one item: the stored pairs and the neurons behind the score.

The predicted rating is the item's baseline, plus the user's bias (the bias neuron), plus the gain times the average
over the other Z neurons of each addressed cell's shrunk mean deviation from that bias. That average is a sum over
the pairs in the cells, so it splits exactly into one additive *pull* per stored pair: the pairs that share more
neurons with the item, and deviate more from the user's bias, pull harder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from wnn.memory import COUNT, RESIDUAL
from wnn.network_view import NetworkView
from wnn.residuals import RESIDUAL_QUANTUM

if TYPE_CHECKING:
    from wnn.prediction import Prediction


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why the network scored an item as it did.

    ``pairs`` are the stored training pairs that share cells with the item, strongest pull first, as dicts with
    ``event_id``, ``item``, ``rating``, ``ts``, ``shared_neurons`` and ``pull`` (its additive share of the predicted
    rating). ``neurons`` lists, per Z neuron, the cell it read (``count``, ``mean_residual``).
    """

    item: Hashable
    prediction: Prediction
    baseline: float
    user_bias: float
    pairs: list[dict[str, Any]]
    neurons: list[dict[str, Any]]


def explain(model: NetworkView, item: Hashable, top: int = 5) -> Explanation:
    """The ``top`` stored pairs and the neurons that drove ``model``'s predicted rating of ``item`` (the model must be
    reconciled: :meth:`wnn.network.UserWNN.explain` does that first)."""
    space, cfg = model.space, model.space.config
    idx = space.index(item)
    prediction = model.predict_index(idx)
    baseline = space.baseline(idx)
    log = model.pair_log
    table = model.derived_state.table()
    if table is None:
        return Explanation(item, prediction, baseline, 0.0, [], [])
    layout = model.memory.layout
    cells = table.reshape(-1).take(space.cell_base[idx] + layout.state_cells[model.state]).astype(np.float64)
    cells[RESIDUAL] *= RESIDUAL_QUANTUM
    user_bias = float(cells[RESIDUAL, 0] / (cells[COUNT, 0] + cfg.user_prior))
    start = model.window_start  # pairs before a taste change no longer vote
    window = slice(start, log.n)
    candidate = layout.cells(space.addresses[idx].astype(np.int64), model.state)
    stored = layout.cells(space.addresses[log.items[window]].astype(np.int64), model.q_before())
    match = stored[:, 1:] == candidate[1:]
    shared = match.sum(axis=1)
    # The rating's interaction term is a sum over neurons of the cell's shrunk mean deviation; split it per pair.
    per_neuron = cfg.interaction_gain / (cfg.n_neurons - 1) / (cells[COUNT, 1:] + cfg.interaction_prior)
    pull = (model.residuals()[window] - user_bias) * (match @ per_neuron)
    order = start + np.argsort(-np.abs(pull), kind="stable")[:top]
    pull = np.concatenate((np.zeros(start, dtype=pull.dtype), pull))
    shared = np.concatenate((np.zeros(start, dtype=shared.dtype), shared))
    pairs = [
        dict(
            event_id=int(log.event_ids[p]),
            item=log.keys[p],
            rating=float(log.ratings[p]),
            ts=int(log.ts[p]),
            shared_neurons=int(shared[p]),
            pull=float(pull[p]),
        )
        for p in order
        if shared[p] > 0
    ]
    neurons = [
        dict(neuron=i, count=float(c[COUNT]), mean_residual=float(c[RESIDUAL] / c[COUNT]))
        for i, c in enumerate(cells.T)
        if c[COUNT] > 0
    ]
    return Explanation(item, prediction, baseline, user_bias, pairs, neurons)
