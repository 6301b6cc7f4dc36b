"""Where am I in the graph? One discrete Bayes filter over the graph's nodes (localization_mode: belief).

The belief is a probability for every node. Each tick:
- **predict**: the mass moves along the graph's edges by how far the robot went, in seconds of the recording:
  with wheel odometry, the forward distance driven divided by the speed the graph was recorded at; without,
  the time since the last tick. The uncertainty grows with the step, and a small share of the mass (`floor`)
  is spread over every node so a kidnapped robot can still be found.
- **update**: the model scores the nodes around the most likely one (and, while lost, the nodes whose image
  descriptors look most like the camera's). Every reading counts for every hypothesis x: the likelihood of
  the predicted distance to scored node n given the true signed offset from x to n along the graph, fitted
  on the robot's own data (gnm_nav.graph.likelihood); a node far from x reads as far. The readings of one
  image are not independent evidence, so their summed log-likelihood is tempered (`evidence_weight`).
- **state**: TRACKING while the mass within one hop of the most likely node (the confidence) is at least
  `track_confidence`; LOST after `lost_ticks` ticks below; RELOCALISING until it is back; INITIALISING before
  the first tick; ARRIVED once the navigator says the goal was reached. A start hint is a prior around a node.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from enum import Enum

import networkx as nx
import numpy as np

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.bank import NodeBank
from gnm_nav.graph.likelihood import MAX_OFFSET, DistanceLikelihood
from gnm_nav.graph.localization import Evaluator, Localization, global_candidates, graph_window
from gnm_nav.graph.odometry import OdometryPrior
from gnm_nav.graph.planning import node_spacing_s


class LocalizationState(str, Enum):
    INITIALISING = "initialising"
    TRACKING = "tracking"
    LOST = "lost"
    RELOCALISING = "relocalising"
    ARRIVED = "arrived"


# fields BeliefConfig shares with the graph localiser's LocalizerConfig (one value serves both)
BELIEF_SHARED = ("window_radius", "max_window", "relocalize_top_k", "accept_distance", "lost_ticks")


@dataclass(frozen=True)
class BeliefConfig:
    window_radius: int = 8  # hops around the most likely node scored each tick (as the graph localiser's)
    max_window: int = 16  # cap on the nodes of one tick's batch
    relocalize_top_k: int = 16  # nodes ranked by descriptor that the model scores while lost or starting
    accept_distance: float = 8.0  # a goal image matches a node only this close (model steps; Navigator.goal_from_image)
    track_confidence: float = 0.5  # mass within one hop of the most likely node to be tracking
    lost_ticks: int = 3  # ticks below track_confidence before the robot counts as lost
    evidence_weight: float = 0.3  # tempering of one image's summed log-likelihood (its readings share errors)
    uninformative: float = 0.7  # prior share of images that say nothing about the place (occluded, changed)
    max_bias: float = 10.0  # model steps a changed scene may raise all readings of one image by
    odometry_sd: float = 0.1  # spread of one step's advance measured by odometry, as a share of it
    pace_sd: float = 0.6  # without odometry: spread of the advance as a share of the time since the last tick
    motion_sd_floor_s: float = 0.05  # recorded seconds added to either spread
    floor: float = 1e-3  # share of the mass spread over every node each tick
    hint_spread_s: float = 2.0  # a start hint puts the mass within about this many recorded seconds of the node

    def __post_init__(self) -> None:
        if self.window_radius < 1 or self.max_window < 2 or self.relocalize_top_k < 1 or self.lost_ticks < 1:
            raise ValueError(f"invalid belief configuration: {self}")
        if not (0 < self.track_confidence <= 1 and 0 < self.evidence_weight <= 1 and 0 <= self.floor < 1
                and 0 < self.uninformative < 1 and self.max_bias >= 0
                and self.odometry_sd >= 0 and self.pace_sd >= 0 and self.motion_sd_floor_s > 0
                and self.hint_spread_s > 0):
            raise ValueError(f"invalid belief configuration: {self}")


class GraphOffsets:
    """Signed temporal offsets (recorded seconds; ahead > 0, behind < 0) from a node to the nodes within
    `horizon_s` along the graph either way, computed once per node when first needed."""

    def __init__(self, graph: nx.DiGraph, horizon_s: float) -> None:
        self.graph = graph
        self.horizon_s = horizon_s
        self.nodes = list(graph.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.spacing_s = node_spacing_s(graph)  # typical time between recorded nodes

    def _reach(self, source: int, forward: bool) -> dict[int, float]:
        dist = {source: 0.0}
        heap = [(0.0, source)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist.get(node, math.inf):
                continue
            edges = self.graph.out_edges(node, data="weight") if forward else self.graph.in_edges(node, data="weight")
            for u, v, w in edges:
                other = v if forward else u
                nd = d + float(w)
                if nd <= self.horizon_s and nd < dist.get(other, math.inf):
                    dist[other] = nd
                    heapq.heappush(heap, (nd, other))
        return dist

    def around(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(node indices, signed offsets in seconds), the node itself first at 0."""
        if node not in self._cache:
            ahead, behind = self._reach(node, True), self._reach(node, False)
            offsets = {n: d for n, d in ahead.items()}
            for n, d in behind.items():
                if n not in offsets or d < offsets[n]:
                    offsets[n] = -d
            offsets[node] = 0.0
            order = [node] + [n for n in offsets if n != node]
            self._cache[node] = (np.array([self.index[n] for n in order]), np.array([offsets[n] for n in order]))
        return self._cache[node]


def recorded_speed(graph: nx.DiGraph) -> float | None:
    """Metres per recorded second over the edges within one session with poses (None: no such edge)."""
    metres, seconds = 0.0, 0.0
    for u, v, w in graph.edges(data="weight"):
        a, b = graph.nodes[u], graph.nodes[v]
        if a.get("pose") is None or b.get("pose") is None or a.get("session", 0) != b.get("session", 0):
            continue
        metres += float(np.hypot(a["pose"][0] - b["pose"][0], a["pose"][1] - b["pose"][1]))
        seconds += float(w)
    return metres / seconds if seconds > 0 and metres > 0 else None


class BeliefLocalizer:
    MOVING_MASS = 1e-4  # nodes holding more than this are moved by the prediction (the rest is the uniform floor)
    MAX_MOVING = 256  # and at most this many, the most likely

    def __init__(self, graph: nx.DiGraph, bank: NodeBank, evaluate: Evaluator, likelihood: DistanceLikelihood,
                 step_s: float, config: BeliefConfig = BeliefConfig(), image_size: tuple[int, int] = (85, 64),
                 center_crop: bool = False, odometry: OdometryPrior | None = None) -> None:
        """step_s: seconds per model step (the card's context spacing), the unit of the model's distances."""
        if len(graph) == 0:
            raise GraphError("cannot localise in an empty graph")
        self.graph = graph
        self.bank = bank
        self.evaluate = evaluate
        self.likelihood = likelihood
        self.step_s = step_s
        self.config = config
        self.image_size = image_size
        self.center_crop = center_crop
        self.odometry = odometry
        self.offsets = GraphOffsets(graph, (MAX_OFFSET + 2) * step_s)
        self.speed = recorded_speed(graph)
        n = len(self.offsets.nodes)
        self.belief = np.full(n, 1.0 / n)
        self.state = LocalizationState.INITIALISING
        self.relocalizations = 0
        self._low_ticks = 0
        self._hint: int | None = None
        self._last_stamp: float | None = None
        self._last_odom: np.ndarray | None = None

    # -- the answer ---------------------------------------------------------------------------------------

    @property
    def most_likely(self) -> int:
        return self.offsets.nodes[int(np.argmax(self.belief))]

    @property
    def confidence(self) -> float:
        """Mass on the most likely node and its direct neighbours."""
        node = self.most_likely
        near = {node, *self.graph.successors(node), *self.graph.predecessors(node)}
        return float(sum(self.belief[self.offsets.index[m]] for m in near))

    # -- commands -------------------------------------------------------------------------------------------

    def hint(self, node: int) -> None:
        """The robot is near `node`: the belief becomes a prior around it (most of the mass within hint_spread_s
        of recorded time either way, the rest uniform), to be confirmed by the images."""
        if node not in self.graph:
            raise GraphError(f"start node {node} is not in the graph (nodes {min(self.graph)}..{max(self.graph)})")
        if self.odometry is not None:
            self.odometry.forget()
        idx, off = self.offsets.around(node)
        prior = np.zeros_like(self.belief)
        prior[idx] = np.exp(-0.5 * (off / self.config.hint_spread_s) ** 2)
        self.belief = 0.9 * prior / prior.sum() + 0.1 / len(prior)
        self._hint = node
        self.state = LocalizationState.INITIALISING
        self._low_ticks = 0

    def mark_arrived(self, arrived: bool = True) -> None:
        """The navigator reached its goal (ARRIVED until a new goal clears it)."""
        if arrived:
            self.state = LocalizationState.ARRIVED
        elif self.state is LocalizationState.ARRIVED:
            self.state = LocalizationState.TRACKING

    # -- one tick -------------------------------------------------------------------------------------------

    def step(self, obs_img: np.ndarray, current_rgb: np.ndarray, stamp: float | None = None) -> Localization:
        self._predict(*self._advance_s(stamp))
        searching = self.state in (LocalizationState.INITIALISING, LocalizationState.LOST,
                                   LocalizationState.RELOCALISING)
        cfg = self.config
        nodes = graph_window(self.graph, self.most_likely, cfg.window_radius, cfg.max_window)
        if searching:  # also where the descriptors and the start hint say, in the same batch
            if self._hint is not None:
                nodes += graph_window(self.graph, self._hint, cfg.window_radius, cfg.max_window)
            nodes, dist, actions = global_candidates(self.bank, self.evaluate, obs_img, current_rgb,
                                                     cfg.relocalize_top_k, self.image_size, self.center_crop, nodes)
        else:
            dist, actions = self.evaluate(obs_img, self.bank.goal_tensor(nodes))
            dist = np.asarray(dist, dtype=np.float64).reshape(-1)
        self._update(nodes, dist)
        scored = {n: float(d) for n, d in zip(nodes, dist)}
        acts = {n: a for n, a in zip(nodes, np.asarray(actions))}
        return self._report(scored, acts, searching)

    def _advance_s(self, stamp: float | None) -> tuple[float, float]:
        """Recorded seconds the robot advanced since the last tick (negative: it backed up), and their spread."""
        cfg = self.config
        dt = 0.0 if stamp is None or self._last_stamp is None else max(stamp - self._last_stamp, 0.0)
        self._last_stamp = stamp if stamp is not None else self._last_stamp
        pose = self.odometry.pose if self.odometry is not None else None
        if pose is None or self.speed is None:  # at the recording's pace: the route driven about as recorded
            return dt, cfg.pace_sd * dt + cfg.motion_sd_floor_s
        last, self._last_odom = self._last_odom, pose.copy()
        if last is None:
            return 0.0, cfg.motion_sd_floor_s
        d = pose[:2] - last[:2]
        forward = float(d[0] * math.cos(last[2]) + d[1] * math.sin(last[2])) / self.speed
        return forward, cfg.odometry_sd * abs(forward) + cfg.motion_sd_floor_s

    def _predict(self, advance_s: float, sd: float) -> None:
        cfg = self.config
        b = self.belief
        if advance_s != 0.0 or sd > cfg.motion_sd_floor_s:
            half = 0.5 * self.offsets.spacing_s
            moving = np.flatnonzero(b > self.MOVING_MASS)
            if len(moving) > self.MAX_MOVING:
                moving = moving[np.argsort(b[moving])[-self.MAX_MOVING:]]
            moved = b.copy()
            moved[moving] = 0.0
            for i in moving:
                idx, off = self.offsets.around(self.offsets.nodes[i])
                # the share of the advance's distribution falling in each node's cell (one node spacing wide)
                p = _normal_cdf((off + half - advance_s) / sd) - _normal_cdf((off - half - advance_s) / sd)
                total = p.sum()
                if total <= 0:
                    moved[i] += b[i]
                    continue
                np.add.at(moved, idx, b[i] * p / total)
            b = moved
        b = (1 - cfg.floor) * b + cfg.floor / len(b)
        self.belief = b / b.sum()

    def _update(self, nodes: list[int], dist: np.ndarray) -> None:
        """Bayes' rule with every reading: log L(x) = sum_n log p(d_n - b_x | offset x -> n), tempered, and mixed
        with the chance that the image says nothing about the place (then every node reads as far, whatever x
        is): a view the model does not recognise moves mass away from the believed place only slowly. b_x >= 0
        is the bias that best explains the readings under x (least squares, at most max_bias): a changed scene
        or an unfamiliar viewpoint raises every reading of an image together, and the shape of the readings
        over the nodes then says more than their level."""
        cfg, lik = self.config, self.likelihood
        finite = np.isfinite(dist)  # a reading the model could not give says nothing
        nodes, dist = [n for n, ok in zip(nodes, finite) if ok], dist[finite]
        if not nodes:
            return
        n_nodes = len(self.belief)
        pairs = [self.offsets.around(node) for node in nodes]  # offsets from n; from x to n is their negative
        xs = np.concatenate([idx for idx, _ in pairs])
        js = np.concatenate([np.full(len(idx), j) for j, (idx, _) in enumerate(pairs)])
        mean, sd = lik.centre(np.concatenate([-off for _, off in pairs]) / self.step_s)
        # bias: weighted mean residual per hypothesis, every reading far unless x lies near its node
        w_far = 1.0 / lik.far_sd ** 2
        sum_w = np.full(n_nodes, len(nodes) * w_far)
        sum_wr = np.full(n_nodes, float(np.sum(dist - lik.far_mean)) * w_far)
        np.add.at(sum_w, xs, 1.0 / sd ** 2 - w_far)
        np.add.at(sum_wr, xs, (dist[js] - mean) / sd ** 2 - (dist[js] - lik.far_mean) * w_far)
        bias = np.clip(sum_wr / sum_w, 0.0, cfg.max_bias)
        far_bias = float(np.clip(np.sum(dist - lik.far_mean) / len(nodes), 0.0, cfg.max_bias))
        log_far_all = float(lik.log_pdf_far(dist - far_bias).sum())  # a node near none of the scored ones
        log_l = np.full(n_nodes, log_far_all)
        touched = np.unique(xs)
        log_l[touched] = lik.log_pdf_far(dist[None, :] - bias[touched, None]).sum(axis=1)
        shifted = dist[js] - bias[xs]
        np.add.at(log_l, xs, lik.log_mixture(shifted, mean, sd) - lik.log_pdf_far(shifted))
        log_l = np.logaddexp(math.log(1 - cfg.uninformative) + cfg.evidence_weight * (log_l - log_far_all),
                             math.log(cfg.uninformative))
        log_post = np.log(np.maximum(self.belief, 1e-300)) + log_l - log_l.max()
        post = np.exp(log_post - log_post.max())
        self.belief = post / post.sum()

    def _report(self, scored: dict[int, float], acts: dict[int, np.ndarray], searching: bool) -> Localization:
        node, confidence = self.most_likely, self.confidence
        was = self.state
        if confidence >= self.config.track_confidence:
            self._low_ticks = 0
            if was is not LocalizationState.ARRIVED:
                self.state = LocalizationState.TRACKING
            if searching:
                self.relocalizations += 1
                self._hint = None
        else:
            self._low_ticks += 1
            if was is LocalizationState.LOST:
                self.state = LocalizationState.RELOCALISING
            elif was in (LocalizationState.TRACKING, LocalizationState.ARRIVED) and \
                    self._low_ticks >= self.config.lost_ticks:
                self.state = LocalizationState.LOST
                self.belief = 0.5 * self.belief + 0.5 / len(self.belief)  # the old place is only a hint now
        localised = self.state in (LocalizationState.TRACKING, LocalizationState.ARRIVED)
        distance = scored.get(node, math.inf)
        if localised and self.odometry is not None and node in scored:
            self.odometry.confirm(node, distance)
        return Localization(node if localised else None, distance if localised else math.inf, scored, acts,
                            relocalized=searching and localised, lost=not localised,
                            confidence=confidence, state=self.state.value)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised (Abramowitz & Stegun 7.1.26 for erf, error below 1.5e-7)."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)

