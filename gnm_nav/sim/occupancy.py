"""Occupancy grid and clearance field of a world spec: what the planner, the collision check and maps use."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from gnm_nav.sim.world_spec import Box, Cylinder, WorldSpec

DEFAULT_RESOLUTION = 0.05


@dataclass
class OccupancyGrid:
    """occupied[row, col]; row 0 is ymin, col 0 is xmin; cells are `resolution` metres square."""

    occupied: np.ndarray  # bool [H, W]
    origin: tuple[float, float]  # (xmin, ymin) of cell (0, 0)'s corner
    resolution: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape[0], self.occupied.shape[1]

    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of a world point (may lie outside the grid)."""
        return (int(math.floor((y - self.origin[1]) / self.resolution)),
                int(math.floor((x - self.origin[0]) / self.resolution)))

    def to_world(self, row: float, col: float) -> tuple[float, float]:
        return (self.origin[0] + (col + 0.5) * self.resolution, self.origin[1] + (row + 0.5) * self.resolution)

    def inside(self, row: int, col: int) -> bool:
        return 0 <= row < self.shape[0] and 0 <= col < self.shape[1]

    @cached_property
    def clearance(self) -> np.ndarray:
        """Metres from each cell centre to the nearest occupied cell (0 inside obstacles)."""
        free = (~self.occupied).astype(np.uint8)
        # pad with an occupied border so the grid edge counts as a wall
        padded = cv2.copyMakeBorder(free, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        return np.maximum(dist - 0.5, 0.0) * self.resolution

    def clearance_at(self, x: float, y: float) -> float:
        row, col = self.to_cell(x, y)
        if not self.inside(row, col):
            return 0.0
        return float(self.clearance[row, col])

    def free_for(self, radius: float) -> np.ndarray:
        """Cells where a disc of `radius` fits."""
        return self.clearance >= radius


def _box_corners(b: Box) -> np.ndarray:
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    hx, hy = b.size[0] / 2, b.size[1] / 2
    local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    return local @ np.array([[c, s], [-s, c]]) + np.asarray(b.center)


def rasterize(occupied: np.ndarray, origin: tuple[float, float], resolution: float,
              boxes: list[Box], cylinders: list[Cylinder]) -> None:
    """Mark footprints as occupied in place (a cell counts if the shape covers any part of it, roughly)."""
    canvas = occupied.view(np.uint8)
    ox, oy = origin
    shift = 4  # sub-pixel precision for cv2 drawing
    scale = (1 << shift) / resolution
    for b in boxes:
        pts = ((_box_corners(b) - (ox, oy)) * scale - (1 << shift) / 2).round().astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=shift)
        cv2.polylines(canvas, [pts], True, 1, lineType=cv2.LINE_8, shift=shift)
    for c in cylinders:
        center = (int(round(((c.center[0] - ox) / resolution - 0.5) * (1 << shift))),
                  int(round(((c.center[1] - oy) / resolution - 0.5) * (1 << shift))))
        cv2.circle(canvas, center, int(round(c.radius * scale)), 1, -1, lineType=cv2.LINE_8, shift=shift)


def occupancy_grid(spec: WorldSpec, resolution: float = DEFAULT_RESOLUTION) -> OccupancyGrid:
    xmin, ymin, xmax, ymax = spec.bounds
    shape = (int(math.ceil((ymax - ymin) / resolution)), int(math.ceil((xmax - xmin) / resolution)))
    occupied = np.zeros(shape, dtype=bool)
    rasterize(occupied, (xmin, ymin), resolution, spec.solid_boxes(), spec.solid_cylinders())
    return OccupancyGrid(occupied, (xmin, ymin), resolution)


def largest_free_component(free: np.ndarray) -> np.ndarray:
    """Mask of the largest 4-connected region of `free` (empty mask if nothing is free)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(free.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(free, dtype=bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best
