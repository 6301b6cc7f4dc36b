"""The runtime safety filter, ROS-free: one velocity command in, what to publish out.

Per command, at the latest camera frame's encoding:
- PASS      the command's G is within the threshold; or it reverses no faster than reverse_pass_speed:
            the forward camera cannot see where a reverse goes, and a slow one (a stall back-up) goes
            back over the ground just driven;
- MODIFIED  the allowed candidate nearest to it (weighted distance on v and w), where allowed for a
            replacement means G <= threshold - margin (headroom for the learned G's error);
- FALLBACK  no candidate allowed: the least-G candidate scaled down, for at most fallback_timeout;
- TURN      still none allowed after that, and turning on the spot is allowed (stop_turn_rate > 0):
            turn on the spot the way the command turns, for at most one full turn, so the camera can find
            a view the model knows (a robot held still out of distribution never gets back in; a turn on
            the spot sweeps no new ground for a round body, so keep it 0 for long or car-like bodies);
- STOP      still none allowed after that (or stop_turn_rate is 0): zero;
- STALE     the camera (or the command stream) is older than source_timeout: zero for
            stop_pub_timeout, then nothing (the Nav2 collision_monitor convention);
- DISABLED  the filter is switched off: commands pass unchanged.
NaN/Inf commands are dropped and counted. A zero command always passes (a stopped robot stays stopped). A
command outside the candidate grid's box (the speeds the LDM was built for, plus slow reversing) is never
scored (the network's float32 overflows into NaN there) and never passed: it is judged as not allowed. Every
output lies within that box. In monitor mode the decision is made and reported, but the command is published
unchanged (within the box).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np

TURN_SIGN_MIN_W = 0.05  # rad/s; a command turning less than this goes straight (no way round to follow)
Scorer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (embedding, actions) -> (E, G)


class SafetyState(str, Enum):
    PASS = "PASS"
    MODIFIED = "MODIFIED"
    FALLBACK = "FALLBACK"
    TURN = "TURN"
    STOP = "STOP"
    STALE = "STALE"
    DISABLED = "DISABLED"


@dataclass
class FilterSettings:
    threshold_offset: float = 0.0  # added to the model card's calibrated threshold (tune in closed loop)
    margin: float = 0.0  # replacement candidates need G <= threshold - margin
    weight_v: float = 1.0  # nearest-candidate distance: sqrt(weight_v dv^2 + weight_w dw^2)
    weight_w: float = 0.25
    fallback_scale: float = 0.5
    fallback_timeout: float = 1.0
    stop_turn_rate: float = 0.4  # rad/s of TURN after FALLBACK; 0 = straight to STOP
    reverse_pass_speed: float = 0.1  # m/s; slower reversing passes (0 = judged like any command)
    source_timeout: float = 2.0
    stop_pub_timeout: float = 1.0
    monitor: bool = False
    enabled: bool = True


@dataclass
class Decision:
    state: SafetyState
    output: tuple[float, float] | None  # what to publish; None: publish nothing
    requested: tuple[float, float] | None
    ldm: float = math.nan  # G of the requested command
    energy: float = math.nan  # E of the requested command
    threshold: float = math.nan
    allowed_fraction: float = math.nan  # of the candidates (replacement threshold)
    latency_ms: float = math.nan


class SafetyFilter:
    def __init__(self, scorer: Scorer, candidates: np.ndarray, threshold: float,
                 settings: FilterSettings | None = None) -> None:
        self._scorer = scorer
        self.candidates = np.ascontiguousarray(candidates, np.float32)
        self.card_threshold = float(threshold)
        self.settings = settings or FilterSettings()
        self.nan_dropped = 0
        self.last_state: SafetyState | None = None
        self._embedding: np.ndarray | None = None
        self._embedding_time: float | None = None
        self._grid_scores: tuple[np.ndarray, np.ndarray] | None = None  # (E, G) of the candidates at the embedding
        self._command_time: float | None = None
        self._stale_since: float | None = None
        self._fallback_since: float | None = None
        self._turn_sign = 0.0  # the way round of the TURN in progress (0: none)
        self._low = self.candidates.min(axis=0).astype(np.float64)
        self._high = self.candidates.max(axis=0).astype(np.float64)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The box every output lies in: the candidate grid's, with slow reversing."""
        low = self._low.copy()
        low[0] = min(low[0], -self.settings.reverse_pass_speed)
        return low, self._high

    def _within(self, command: tuple[float, float]) -> bool:
        low, high = self._bounds()
        return bool(np.all(np.asarray(command) >= low) and np.all(np.asarray(command) <= high))

    def _bounded(self, decision: Decision) -> Decision:
        if decision.output is not None:
            low, high = self._bounds()
            decision.output = tuple(float(v) for v in np.clip(decision.output, low, high))  # type: ignore[assignment]
        return decision

    @property
    def threshold(self) -> float:
        return self.card_threshold + self.settings.threshold_offset

    def set_observation(self, embedding: np.ndarray, now: float) -> None:
        """A new camera frame's encoding; the candidates are re-scored on the next command."""
        self._embedding = np.ascontiguousarray(embedding, np.float32).reshape(1, -1)
        self._embedding_time = now
        self._grid_scores = None

    def camera_age(self, now: float) -> float:
        return math.inf if self._embedding_time is None else now - self._embedding_time

    def command_age(self, now: float) -> float:
        return math.inf if self._command_time is None else now - self._command_time

    def on_command(self, v: float, w: float, now: float) -> Decision | None:
        """Decide for one incoming command; None for a dropped (NaN/Inf) command."""
        if not (math.isfinite(v) and math.isfinite(w)):
            self.nan_dropped += 1
            return None
        self._command_time = now
        requested = (float(v), float(w))
        if not self.settings.enabled:
            return self._record(Decision(SafetyState.DISABLED, requested, requested, threshold=self.threshold))
        if self.camera_age(now) > self.settings.source_timeout:
            return self._record(self._stale(now, requested))
        self._stale_since = None
        if requested == (0.0, 0.0):  # a stop always passes, and ends any hold
            self._fallback_since, self._turn_sign = None, 0.0
            return self._record(Decision(SafetyState.PASS, requested, requested, threshold=self.threshold))
        decision = self._decide(requested, now)
        if self.settings.monitor:
            decision.output = requested
        return self._record(self._bounded(decision))

    def on_tick(self, now: float) -> Decision | None:
        """Periodic check of the command stream: a decision when it has gone stale, else None."""
        if not self.settings.enabled or self._command_time is None:
            return None
        if self.command_age(now) <= self.settings.source_timeout:
            return None
        return self._record(self._stale(now, None))

    def _stale(self, now: float, requested: tuple[float, float] | None) -> Decision:
        if self._stale_since is None:
            self._stale_since = now
        self._fallback_since, self._turn_sign = None, 0.0
        publishing = now - self._stale_since <= self.settings.stop_pub_timeout
        output: tuple[float, float] | None = (0.0, 0.0) if publishing else None
        if self.settings.monitor:
            output = requested
        return self._bounded(Decision(SafetyState.STALE, output, requested, threshold=self.threshold))

    def _decide(self, requested: tuple[float, float], now: float) -> Decision:
        started = time.perf_counter()
        embedding = self._embedding
        assert embedding is not None, "a command is only judged once an observation has arrived"
        if self._grid_scores is None:
            self._grid_scores = self._scorer(embedding, self.candidates)
        inside = self._within(requested)
        if inside:
            energy, ldm = self._scorer(embedding, np.array([requested], np.float32))
        else:  # beyond what the model was built for: not allowed, and not scored (float32 overflows to NaN)
            energy, ldm = np.array([math.nan]), np.array([math.inf])
        ldm = np.where(np.isnan(ldm), math.inf, ldm)  # a NaN score means not allowed
        grid_g = self._grid_scores[1]
        threshold = self.threshold
        allowed = grid_g <= threshold - self.settings.margin
        decision = Decision(SafetyState.PASS, requested, requested, float(ldm[0]), float(energy[0]), threshold,
                            float(allowed.mean()))
        if inside and -self.settings.reverse_pass_speed <= requested[0] < 0:
            self._fallback_since, self._turn_sign = None, 0.0
            decision.latency_ms = (time.perf_counter() - started) * 1e3
            return decision
        if ldm[0] > threshold and allowed.any():
            low, high = self._bounds()
            delta = self.candidates[allowed] - np.clip(requested, low, high).astype(np.float32)
            dist = self.settings.weight_v * delta[:, 0] ** 2 + self.settings.weight_w * delta[:, 1] ** 2
            best = self.candidates[allowed][int(np.argmin(dist))]
            decision.state, decision.output = SafetyState.MODIFIED, (float(best[0]), float(best[1]))
        if ldm[0] <= threshold or allowed.any():
            self._fallback_since, self._turn_sign = None, 0.0
        else:
            decision.state, decision.output = self._held(requested, self.candidates[int(np.argmin(grid_g))], now)
        decision.latency_ms = (time.perf_counter() - started) * 1e3
        return decision

    def _held(self, requested: tuple[float, float], least: np.ndarray,
              now: float) -> tuple[SafetyState, tuple[float, float]]:
        """No candidate allowed: FALLBACK (the least-G candidate, slowed), then TURN (bounded), then STOP."""
        if self._fallback_since is None:
            self._fallback_since = now
        held = now - self._fallback_since
        turn_rate = self.settings.stop_turn_rate
        if held <= self.settings.fallback_timeout:
            return SafetyState.FALLBACK, (float(least[0]) * self.settings.fallback_scale,
                                          float(least[1]) * self.settings.fallback_scale)
        if turn_rate > 0 and held <= self.settings.fallback_timeout + 2 * math.pi / turn_rate:
            if not self._turn_sign:  # the command's way round; the least-G candidate's when it goes straight
                w = requested[1] if TURN_SIGN_MIN_W <= abs(requested[1]) else float(least[1])
                self._turn_sign = -1.0 if w < 0 else 1.0
            return SafetyState.TURN, (0.0, self._turn_sign * turn_rate)
        return SafetyState.STOP, (0.0, 0.0)

    def _record(self, decision: Decision) -> Decision:
        self.last_state = decision.state
        return decision
