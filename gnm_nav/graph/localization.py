"""Where am I in the graph? A belief that moves along edges, checked each tick by one batched model call.

Each tick the model scores a window of nodes around the believed node (graph neighbours within
`window_radius` hops, so the cost does not grow with the graph). Predicted distances are smoothed
over ticks and the belief only moves to another node when that node is clearly closer
(`switch_margin`), so it does not flicker while the robot stands still. When even the best node of
the window is far (`lost_distance`) for `lost_ticks` ticks, the robot is lost; then (and at start)
it relocalises globally: a cheap image descriptor ranks every node, the model scores the top-K,
and the best is accepted only if its distance is below `accept_distance`. After having been localised,
a match far along the graph from the last belief must also pay `jump_penalty` per hop beyond the
window, up to half of accept_distance: a robot that just lost track is most likely still near where it
was, and an imperfect model finds look-alikes elsewhere (one took a robot to the goal node across a
wall), so a far jump needs a closer match, but a kidnapped robot is still found. The window around that
place is scored too, whatever the descriptors rank. A start hint (`hint`: the robot starts where the
graph was recorded from, or an operator's estimate) plays the same part before the first match. With wheel odometry
(gnm_nav.graph.odometry) nodes away from where the odometry puts the robot cost more, and while the images match
nothing the belief follows the odometry for a while before the robot counts as lost; a start hint anchors the
odometry, so that holds from the start too.
"""
from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import networkx as nx
import numpy as np

from gnm_nav.common.errors import GraphError
from gnm_nav.gnm.preprocessing import preprocess_frame, stack_frames
from gnm_nav.graph.bank import NodeBank, to_model_resolution
from gnm_nav.graph.odometry import OdometryPrior
from gnm_nav.graph.store import TopoGraph


class Evaluator(Protocol):
    """GNMEngine.evaluate: obs [1,3*(ctx+1),H,W], goals [N,3,H,W] -> (dist [N], actions [N,5,4])."""

    def __call__(self, obs_img: np.ndarray, goal_imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class LocalizerConfig:
    # hops around the belief scored each tick (the reference scores closest-4..closest+5). 8: graphs get a node
    # per second of driving, so where the recording driver slowed down (turns) nodes crowd and a robot
    # cutting the turn runs past closest+4 before the model confirms a node (then it is lost)
    window_radius: int = 8
    max_window: int = 16  # cap on the nodes of one tick's batch (branchy graphs)
    switch_margin: float = 1.0  # a node must be this much closer (model steps) than the believed one to take over
    smoothing: float = 0.5  # weight of the newest prediction in the per-node running distance
    lost_distance: float = 12.0  # best window distance above this means "not here"
    lost_ticks: int = 3  # consecutive far ticks before declaring the robot lost
    relocalize_top_k: int = 16  # candidates the model scores in a global relocalisation
    accept_distance: float = 8.0  # a global match must be at least this close
    jump_penalty: float = 0.25  # model steps per hop beyond window_radius from the last belief (after being lost)

    def __post_init__(self) -> None:
        if (self.window_radius < 1 or self.max_window < 2 or self.relocalize_top_k < 1 or self.lost_ticks < 1
                or self.jump_penalty < 0):
            raise ValueError(f"invalid localiser configuration: {self}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")


@dataclass
class Localization:
    closest: int | None  # believed node (None while lost and no global match)
    distance: float  # predicted temporal distance to it (model steps); inf when unknown
    distances: dict[int, float]  # smoothed distance of every node scored this tick
    actions: dict[int, np.ndarray] = field(repr=False, default_factory=dict)  # model waypoints toward each scored node
    relocalized: bool = False
    lost: bool = False
    dead_reckoning: bool = False  # the belief follows the odometry: the model matches no node of the window
    confidence: float | None = None  # the belief localiser's mass near `closest` (None: this localiser has none)
    state: str = ""  # the belief localiser's state (gnm_nav.graph.belief.LocalizationState), "" for the others


def graph_window(graph: nx.DiGraph, center: int, radius: int, cap: int) -> list[int]:
    """Nodes within `radius` hops of `center` (either direction), nearest hops first, at most `cap`."""
    order: list[int] = [center]
    seen = {center}
    frontier = deque([(center, 0)])
    while frontier and len(order) < cap:
        node, hops = frontier.popleft()
        if hops >= radius:
            continue
        # Successors before predecessors: the robot drives forward, so ahead matters more.
        for nb in list(graph.successors(node)) + list(graph.predecessors(node)):
            if nb not in seen:
                seen.add(nb)
                order.append(nb)
                frontier.append((nb, hops + 1))
                if len(order) >= cap:
                    break
    return order


def global_candidates(bank: NodeBank, evaluate: Evaluator, obs_img: np.ndarray, current_rgb: np.ndarray, top_k: int,
                      image_size: tuple[int, int], center_crop: bool,
                      extra: Sequence[int] = ()) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The coarse-to-fine global search: the top_k nodes by descriptor (plus `extra`), scored in one batched model
    call; returns (nodes, distances, actions)."""
    frame = to_model_resolution(current_rgb, image_size, center_crop)
    candidates = [int(n) for n in bank.nearest_by_descriptor(frame, top_k)]
    candidates += [n for n in dict.fromkeys(extra) if n not in candidates]
    dist, actions = evaluate(obs_img, bank.goal_tensor(candidates))
    return candidates, np.asarray(dist, dtype=np.float64).reshape(-1), np.asarray(actions)


def match_image(bank: NodeBank, evaluate: Evaluator, obs_img: np.ndarray, current_rgb: np.ndarray, top_k: int,
                accept_distance: float, image_size: tuple[int, int], center_crop: bool
                ) -> tuple[int | None, float, dict[int, float], dict[int, np.ndarray]]:
    """The node one image shows, with no prior (a goal image): the best of the global search when its distance is
    at most accept_distance, else None; also the best distance and every candidate's distance and actions."""
    candidates, dist, actions = global_candidates(bank, evaluate, obs_img, current_rgb, top_k, image_size,
                                                  center_crop)
    return best_candidate(candidates, dist, actions, dist, accept_distance)


def best_candidate(candidates: list[int], dist: np.ndarray, actions: np.ndarray, cost: np.ndarray,
                   accept_distance: float) -> tuple[int | None, float, dict[int, float], dict[int, np.ndarray]]:
    """(the lowest-cost candidate, or None when its cost is above accept_distance; its distance; every
    candidate's distance; every candidate's actions)."""
    best = int(np.argmin(cost))
    scored = {n: float(d) for n, d in zip(candidates, dist)}
    acts = {n: a for n, a in zip(candidates, actions)}
    return (candidates[best] if cost[best] <= accept_distance else None), float(dist[best]), scored, acts


def bank_for_graph(graph: TopoGraph, image_size: tuple[int, int], center_crop: bool = False,
                   use_cache: bool = True) -> NodeBank:
    """Compact images + descriptors for every node, cached in the graph directory (keyed by the image files)."""
    nodes = graph.nodes()
    cache_dir = graph.root if use_cache and graph.root is not None else None
    key = ""
    if cache_dir is not None:
        h = hashlib.sha1()
        for n in nodes:
            path = cache_dir / graph.g.nodes[n]["image"]
            st = path.stat()
            h.update(f"{n}:{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        key = h.hexdigest()
    return NodeBank.from_images(nodes, graph.image, image_size, center_crop, cache_dir, key)


class Localizer:
    def __init__(self, graph: nx.DiGraph, bank: NodeBank, evaluate: Evaluator,
                 config: LocalizerConfig = LocalizerConfig(), image_size: tuple[int, int] = (85, 64),
                 center_crop: bool = False, odometry: OdometryPrior | None = None) -> None:
        self.graph = graph
        self.bank = bank
        self.evaluate = evaluate
        self.config = config
        self.odometry = odometry
        self.image_size = image_size
        self.center_crop = center_crop
        self.belief: int | None = None
        self._smoothed: dict[int, float] = {}
        self._far_ticks = 0
        self.relocalizations = 0
        self._last_belief: int | None = None  # where the robot was before it got lost (None: never localised)
        self._hops_from: tuple[int, dict[int, int]] | None = None  # graph hops from _last_belief, cached

    def reset(self) -> None:
        """Forget the belief (lost); the place it was stays as the prior of the relocalisation."""
        self._last_belief = self.belief if self.belief is not None else self._last_belief
        self.belief = None
        self._smoothed = {}
        self._far_ticks = 0

    def hint(self, node: int) -> None:
        """The robot is near `node` (the start of a recording, an operator's estimate): forget the belief; the
        next global match scores the window around `node` and prefers it, as after a loss (a clear match
        elsewhere still wins). The odometry's anchors go too (they placed the robot before it was (re)placed):
        it is anchored at `node` instead, so the robot can follow it from there before any image matches. Graph
        ids are checked: a GraphError names an unknown node."""
        if node not in self.graph:
            raise GraphError(f"start node {node} is not in the graph (nodes {min(self.graph)}..{max(self.graph)})")
        if self.odometry is not None:
            self.odometry.assume(node)
        self.reset()
        self._last_belief = node

    def _jump_cost(self, nodes: list[int]) -> np.ndarray:
        """Penalty of believing each node, from how far along the graph it is from the last belief."""
        if self._last_belief is None or self.config.jump_penalty == 0:
            return np.zeros(len(nodes))
        if self._hops_from is None or self._hops_from[0] != self._last_belief:  # once per loss, not per tick
            undirected = self.graph.to_undirected(as_view=True)
            self._hops_from = (self._last_belief, nx.single_source_shortest_path_length(undirected, self._last_belief))
        hops = self._hops_from[1]
        far = np.array([hops.get(n, len(self.graph)) for n in nodes], dtype=np.float64)
        return self.config.jump_penalty * np.maximum(far - self.config.window_radius, 0.0)

    def window(self, center: int) -> list[int]:
        """Nodes within window_radius hops (either direction), nearest hops first, capped at max_window."""
        return graph_window(self.graph, center, self.config.window_radius, self.config.max_window)

    def _odometry_cost(self, nodes: list[int]) -> np.ndarray:
        return self.odometry.penalty(nodes) if self.odometry is not None else np.zeros(len(nodes))

    def _score(self, obs_img: np.ndarray, nodes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        dist, actions = self.evaluate(obs_img, self.bank.goal_tensor(nodes))
        return np.asarray(dist, dtype=np.float64).reshape(-1), np.asarray(actions)

    def relocalize(self, obs_img: np.ndarray, current_rgb: np.ndarray,
                   prior: bool = True) -> tuple[int | None, float, dict[int, float], dict[int, np.ndarray]]:
        """Coarse-to-fine global search: descriptor top-K, then one batched model call. Does not change the belief.
        prior: weigh candidates by how far they are from where the robot was (off for goal images)."""
        if not prior:
            return match_image(self.bank, self.evaluate, obs_img, current_rgb, self.config.relocalize_top_k,
                               self.config.accept_distance, self.image_size, self.center_crop)
        # where the robot was and where the odometry says, whatever the descriptors say
        near = self.window(self._last_belief) if self._last_belief is not None else []
        near += self.odometry.within_tolerance() if self.odometry is not None else []
        candidates, dist, actions = global_candidates(self.bank, self.evaluate, obs_img, current_rgb,
                                                      self.config.relocalize_top_k, self.image_size,
                                                      self.center_crop, near)
        # a prior (where it was, where the odometry puts it) never costs more than half of accept_distance, so a
        # kidnapped robot is still found by a clear match
        cost = dist + np.minimum(self._jump_cost(candidates) + self._odometry_cost(candidates),
                                 self.config.accept_distance / 2)
        return best_candidate(candidates, dist, actions, cost, self.config.accept_distance)

    def step(self, obs_img: np.ndarray, current_rgb: np.ndarray, stamp: float | None = None) -> Localization:
        """One localisation tick: window scoring (or a global relocalisation when lost / at start). The stamp is
        not needed: this localiser's motion is the odometry's."""
        if self.belief is None:
            return self._global(obs_img, current_rgb)
        nodes = self.window(self.belief)
        guess = self.odometry.nearest() if self.odometry is not None else None
        if guess is not None and guess not in nodes:  # the odometry has the robot beyond the window
            nodes.append(guess)
        dist, actions = self._score(obs_img, nodes)
        a = self.config.smoothing
        smoothed = {n: a * float(d) + (1 - a) * self._smoothed[n] if n in self._smoothed else float(d)
                    for n, d in zip(nodes, dist)}
        self._smoothed = smoothed
        cost = dict(zip(nodes, np.array([smoothed[n] for n in nodes]) + self._odometry_cost(nodes)))
        best = min(cost, key=cost.__getitem__)
        if cost[best] + self.config.switch_margin < cost[self.belief]:
            self.belief = best
        acts = {n: act for n, act in zip(nodes, actions)}
        if float(dist.min()) > self.config.lost_distance:
            self._far_ticks += 1
            if self._far_ticks >= self.config.lost_ticks:
                if guess is not None:  # the images say nothing: keep the place the odometry gives
                    self.belief = guess
                    return Localization(guess, smoothed[guess], smoothed, acts, dead_reckoning=True)
                self.reset()
                return self._global(obs_img, current_rgb)
        else:
            self._far_ticks = 0
            if self.odometry is not None:
                self.odometry.confirm(self.belief, smoothed[self.belief])
        return Localization(self.belief, smoothed[self.belief], smoothed, acts)

    def _global(self, obs_img: np.ndarray, current_rgb: np.ndarray) -> Localization:
        node, dist, scored, acts = self.relocalize(obs_img, current_rgb)
        if node is None:
            guess = self.odometry.nearest() if self.odometry is not None else None
            if guess is not None:  # nothing matches yet (a start hint's anchor): the odometry places the robot
                self.belief, self._smoothed, self._far_ticks = guess, {}, 0
                return Localization(guess, scored.get(guess, float("inf")), scored, acts, dead_reckoning=True)
            return Localization(None, float("inf"), scored, acts, relocalized=False, lost=True)
        self.relocalizations += 1
        self.belief = node
        self._smoothed = {node: dist}
        self._far_ticks = 0
        if self.odometry is not None:
            self.odometry.confirm(node, dist)
        return Localization(node, dist, scored, acts, relocalized=True)


class WindowLocalizer:
    """The public deployment's localisation, kept as the anchor to compare against (localization_mode: window).

    The graph is read as one linear route in node-id order (the public topomap `0.png ... N.png`). Each
    tick scores nodes [closest - radius, closest + radius + 1] capped at the goal, in one batched call;
    closest = the argmin, and when its distance is <= close_threshold the robot is taken to be at the
    next node already. No smoothing, no hysteresis, no relocalisation; it starts at the first node.
    """

    def __init__(self, graph: nx.DiGraph, bank: NodeBank, evaluate: Evaluator, close_threshold: float = 3.0,
                 radius: int = 4) -> None:
        self.order = sorted(graph.nodes)
        self.bank = bank
        self.evaluate = evaluate
        self.close_threshold = close_threshold
        self.radius = radius
        self.index = 0
        self.goal_index = len(self.order) - 1

    def set_goal(self, node: int | None, restart: bool = True) -> None:
        """restart: search from the route's start again (a new goal); False: from where the robot is (the next
        goal of a mission)."""
        self.goal_index = len(self.order) - 1 if node is None else self.order.index(node)
        if restart:
            self.index = 0

    def step(self, obs_img: np.ndarray) -> Localization:
        start = max(self.index - self.radius, 0)
        end = max(start, min(self.index + self.radius + 1, self.goal_index))
        nodes = self.order[start:end + 1]
        dist, actions = self.evaluate(obs_img, self.bank.goal_tensor(nodes))
        dist = np.asarray(dist, dtype=np.float64).reshape(-1)
        best = int(np.argmin(dist))
        self.index = start + best
        if dist[best] <= self.close_threshold:
            self.index = min(self.index + 1, self.goal_index)
        return Localization(self.order[self.index], float(dist[best]), {n: float(d) for n, d in zip(nodes, dist)},
                            {n: a for n, a in zip(nodes, np.asarray(actions))})


def single_frame_obs(rgb: np.ndarray, context_size: int, image_size: tuple[int, int],
                     center_crop: bool = False) -> np.ndarray:
    """An observation of one frame repeated over the context: to match a lone image (goal image, session start)."""
    return stack_frames([preprocess_frame(rgb, image_size, center_crop)] * (context_size + 1))
