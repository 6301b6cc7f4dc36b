"""Temporal context for the model: frames spaced like the training data (0.25 s at 4 Hz), whatever the camera rate.

The public deployment pushes every camera frame, so at 9 fps its 6-frame context spans 0.55 s
instead of the 1.25 s the model was trained on. Here each context slot takes the frame whose
stamp is nearest to `latest - k * spacing`.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from gnm_nav.gnm.preprocessing import DEFAULT_IMAGE_SIZE, preprocess_frame, stack_frames

FUTURE_TOLERANCE_S = 0.5  # a frame stamped further ahead of the receiver's clock is refused


class ContextBuffer:
    def __init__(self, context_size: int = 5, spacing_s: float = 0.25,
                 image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE, center_crop: bool = False) -> None:
        if context_size < 0 or spacing_s <= 0:
            raise ValueError(f"context_size must be >= 0 and spacing_s > 0, got {context_size}, {spacing_s}")
        self.context_size = context_size
        self.spacing_s = spacing_s
        self.image_size = image_size
        self.center_crop = center_crop
        self._frames: deque[tuple[float, np.ndarray]] = deque()
        self.refusal: str | None = None  # why the last refused frame was refused

    @property
    def span_s(self) -> float:
        return self.context_size * self.spacing_s

    @property
    def latest_stamp(self) -> float | None:
        return self._frames[-1][0] if self._frames else None

    @property
    def fill(self) -> float:
        """Fraction of the context span covered by stored frames (1.0 = ready)."""
        if not self._frames:
            return 0.0
        if self.context_size == 0:
            return 1.0
        return min(1.0, (self._frames[-1][0] - self._frames[0][0]) / (self.span_s - 0.5 * self.spacing_s))

    @property
    def ready(self) -> bool:
        return bool(self._frames) and self.fill >= 1.0

    def reset(self) -> None:
        self._frames.clear()

    def push(self, rgb: np.ndarray, stamp_s: float, now_s: float | None = None) -> bool:
        """Add a camera frame; False (and `refusal` says why) when it is not used. A duplicate/older stamp is
        ignored; a jump back in time (bag loop, sim reset) restarts; a stamp more than FUTURE_TOLERANCE_S ahead
        of the receiver's clock `now_s` is refused (taken, it would hold every later frame out of the context)."""
        if not math.isfinite(stamp_s):
            self.refusal = f"frame stamp {stamp_s} is not a time"
            return False
        if now_s is not None and stamp_s > now_s + FUTURE_TOLERANCE_S:
            self.refusal = f"frame stamped {stamp_s - now_s:.1f} s in the future (clock not synchronised?)"
            return False
        latest = self.latest_stamp
        if latest is not None:
            if stamp_s < latest - self.span_s - 1.0:
                self.reset()
            elif stamp_s <= latest:
                self.refusal = f"frame stamp went back {latest - stamp_s:.2f} s (out of order or a duplicate)"
                return False
        self._frames.append((stamp_s, preprocess_frame(rgb, self.image_size, self.center_crop)))
        horizon = stamp_s - self.span_s - self.spacing_s
        while len(self._frames) > 1 and self._frames[1][0] <= horizon:
            self._frames.popleft()
        return True

    def model_input(self) -> np.ndarray:
        """[1, 3*(context_size+1), H, W], oldest first, current frame last."""
        if not self._frames:
            raise RuntimeError("context buffer is empty")
        stamps = np.array([s for s, _ in self._frames])
        latest = stamps[-1]
        chosen = []
        for k in range(self.context_size, -1, -1):
            idx = int(np.argmin(np.abs(stamps - (latest - k * self.spacing_s))))
            chosen.append(self._frames[idx][1])
        return stack_frames(chosen)
