"""Shortcut edges (as in ViNG): link nodes the model predicts to be near each other, beyond the recorded edges.

For each node, the descriptor ranks candidate nodes; those not already reachable in a few hops are scored
in one batched model call (the node's image as a still observation, candidates as goals). Pairs
with predicted distance <= max_distance get an edge of kind `shortcut`, at most `per_node` per node.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from gnm_nav.graph.bank import NodeBank
from gnm_nav.graph.builder import MIN_EDGE_WEIGHT_S
from gnm_nav.graph.localization import bank_for_graph, single_frame_obs
from gnm_nav.graph.store import TopoGraph


@dataclass(frozen=True)
class ShortcutConfig:
    max_distance: float = 3.0  # model steps
    per_node: int = 2
    candidates: int = 16  # descriptor neighbours scored per node
    min_hops: int = 3  # nodes reachable in fewer hops already have a good route


def add_shortcuts(graph: TopoGraph, engine, config: ShortcutConfig = ShortcutConfig(), bank: NodeBank | None = None,
                  progress=None) -> list[tuple[int, int, float]]:
    """Adds the edges to `graph`; returns (u, v, weight_s) of each added edge. `progress(n)` is called per node."""
    card = engine.card
    image_size = card.image_size
    bank = bank if bank is not None else bank_for_graph(graph, image_size, card.center_crop)
    added: list[tuple[int, int, float]] = []
    for node in graph.nodes():
        near = nx.single_source_shortest_path_length(graph.g, node, cutoff=config.min_hops - 1)
        row = bank.rows([node])[0]
        ranked = bank.nearest_by_descriptor(bank.images[row], config.candidates + len(near))
        candidates = [int(n) for n in ranked if int(n) not in near][: config.candidates]
        if candidates:
            obs = single_frame_obs(bank.images[row], card.context_size, image_size)
            dist, _ = engine.evaluate(obs, bank.goal_tensor(candidates))
            order = np.argsort(dist)
            kept = [(candidates[i], float(dist[i])) for i in order if dist[i] <= config.max_distance][: config.per_node]
            for other, d in kept:
                weight = max(MIN_EDGE_WEIGHT_S, d * card.context_spacing_s)
                if not graph.g.has_edge(node, other):
                    graph.add_edge(node, other, weight, "shortcut")
                    added.append((node, other, weight))
        if progress is not None:
            progress(1)
    return added
