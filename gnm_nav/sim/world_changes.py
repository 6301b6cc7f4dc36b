"""What changes in a world between a teach drive and a repeat days later: furniture moved, light and some wall
finishes different. Derived from a seed, so every navigation mode meets the same changed world.

Furniture (the free-standing obstacles: pieces up to `MAX_PIECE_M` long, not the walls, pillars or partition
walls) is moved and rotated a little, one piece at a time, and a move is kept only when every leg of the route
still has a path for the body: a change may make the route longer, never impossible.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.sim.world_spec import TEXTURE_KINDS, Box, Cylinder, WorldSpec

CHANGES = ("none", "furniture", "lighting", "both")
MOVED_SHARE = 0.5  # share of the furniture pieces that are moved
MOVE_M = (0.3, 1.0)  # how far a moved piece goes
TURN_RAD = 0.6  # and how much it turns, at most
MAX_PIECE_M = 2.4  # longer free-standing boxes are partition walls: they stay
RETEXTURED_SHARE = 0.3  # share of the wall and poster finishes that change
KEEP_CLEAR_M = 0.15  # clearance beyond the body kept around the route's own points (start, goal)
TRIES = 4  # placements tried per moved piece


@dataclass
class _Piece:
    boxes: list[Box]
    cylinders: list[Cylinder]
    decor: list[Box]

    @property
    def solids(self) -> list[Box | Cylinder]:
        return [*self.boxes, *self.cylinders]

    def centre(self) -> np.ndarray:
        return np.mean([p.center for p in self.solids], axis=0)


def _radius(item: Box | Cylinder) -> float:
    return item.radius if isinstance(item, Cylinder) else 0.5 * math.hypot(*item.size)


def _pieces(spec: WorldSpec) -> list[_Piece]:
    """Free-standing obstacles grouped into pieces of furniture (a table's top and legs, a pile of boxes, a pot
    with its leaves): items whose footprints' bounding circles touch belong together."""
    items: list[Box | Cylinder] = [b for b in spec.obstacles if b.solid and b.height < spec.wall_height - 0.01]
    items += [c for c in spec.pillars if c.solid and c.height < spec.wall_height - 0.01]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(items):
        for j in range(i):
            b = items[j]
            if math.dist(a.center, b.center) < _radius(a) + _radius(b):
                parent[root(i)] = root(j)
    groups: dict[int, _Piece] = {}
    for i, item in enumerate(items):
        piece = groups.setdefault(root(i), _Piece([], [], []))
        if isinstance(item, Cylinder):
            piece.cylinders.append(item)
        else:
            piece.boxes.append(item)
    pieces = []
    for piece in groups.values():
        if any(max(b.size) > MAX_PIECE_M for b in piece.boxes):
            continue
        centres = [p.center for p in piece.solids]
        piece.decor = [d for d in spec.decor if not d.solid and d.z > 0.05
                       and any(math.dist(d.center, c) < 0.05 for c in centres)]
        pieces.append(piece)
    return pieces


def _moved(piece: _Piece, shift: np.ndarray, turn: float) -> _Piece:
    pivot = piece.centre()
    c, s = math.cos(turn), math.sin(turn)

    def place(item):
        out = copy.copy(item)
        d = np.asarray(item.center) - pivot
        out.center = [float(pivot[0] + c * d[0] - s * d[1] + shift[0]),
                      float(pivot[1] + s * d[0] + c * d[1] + shift[1])]
        if isinstance(item, Box):
            out.yaw = float(item.yaw + turn)
        return out

    return _Piece([place(b) for b in piece.boxes], [place(c_) for c_ in piece.cylinders],
                  [place(d) for d in piece.decor])


def _replace(items: list, old: list, new: list) -> list:
    index = {id(o): n for o, n in zip(old, new)}
    return [index.get(id(item), item) for item in items]


def _route_open(spec: WorldSpec, route_points: list[tuple[float, float]], body_radius: float) -> bool:
    from gnm_nav.sim.expert import GridPlanner, PlanningError
    from gnm_nav.sim.occupancy import occupancy_grid

    grid = occupancy_grid(spec)
    if any(grid.clearance_at(x, y) < body_radius + KEEP_CLEAR_M for x, y in route_points):
        return False
    planner = GridPlanner(grid, body_radius)
    try:
        for a, b in zip(route_points, route_points[1:]):
            planner.plan(a, b)
    except PlanningError:
        return False
    return True


def _within_bounds(spec: WorldSpec, piece: _Piece) -> bool:
    xmin, ymin, xmax, ymax = spec.bounds
    return all(xmin + _radius(p) <= p.center[0] <= xmax - _radius(p)
               and ymin + _radius(p) <= p.center[1] <= ymax - _radius(p)
               for p in piece.solids)


def _overlaps_others(spec: WorldSpec, piece: _Piece, others: list[Box | Cylinder]) -> bool:
    """The moved piece may not go into a wall or another obstacle (footprints checked on the grid)."""
    from gnm_nav.sim.occupancy import DEFAULT_RESOLUTION, rasterize

    xmin, ymin, xmax, ymax = spec.bounds
    shape = (int(math.ceil((ymax - ymin) / DEFAULT_RESOLUTION)), int(math.ceil((xmax - xmin) / DEFAULT_RESOLUTION)))
    mine, rest = np.zeros(shape, bool), np.zeros(shape, bool)
    rasterize(mine, (xmin, ymin), DEFAULT_RESOLUTION, piece.boxes, piece.cylinders)
    rasterize(rest, (xmin, ymin), DEFAULT_RESOLUTION, [o for o in others if isinstance(o, Box)],
              [o for o in others if isinstance(o, Cylinder)])
    return bool((mine & rest).any())


def move_furniture(spec: WorldSpec, rng: np.random.Generator, route_points: list[tuple[float, float]],
                   body_radius: float) -> int:
    """Move and turn a share of the furniture in place (spec is modified); returns how many pieces moved."""
    pieces = _pieces(spec)
    chosen = [pieces[i] for i in rng.permutation(len(pieces))[:int(round(MOVED_SHARE * len(pieces)))]]
    moved = 0
    for piece in chosen:
        for _ in range(TRIES):
            angle, dist = rng.uniform(-math.pi, math.pi), rng.uniform(*MOVE_M)
            candidate = _moved(piece, dist * np.array([math.cos(angle), math.sin(angle)]),
                               float(rng.uniform(-TURN_RAD, TURN_RAD)))
            solids: list[Box | Cylinder] = [*spec.walls, *spec.obstacles, *spec.pillars]
            others = [o for o in solids if o.solid and all(o is not p for p in piece.solids)]
            if not _within_bounds(spec, candidate) or _overlaps_others(spec, candidate, others):
                continue
            trial = copy.copy(spec)
            trial.obstacles = _replace(spec.obstacles, piece.boxes, candidate.boxes)
            trial.pillars = _replace(spec.pillars, piece.cylinders, candidate.cylinders)
            trial.decor = _replace(spec.decor, piece.decor, candidate.decor)
            if _route_open(trial, route_points, body_radius):
                spec.obstacles, spec.pillars, spec.decor = trial.obstacles, trial.pillars, trial.decor
                moved += 1
                break
    return moved


def relight(spec: WorldSpec, rng: np.random.Generator) -> int:
    """Other light (each lamp brighter or dimmer and moved, another sun direction, other ambient) and other
    finishes on some walls and posters; spec is modified. Returns how many finishes changed."""
    for light in spec.lights:
        if light.directional:
            light.dir = [float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6)), -1.0]
            light.diffuse = [float(np.clip(v * rng.uniform(0.5, 1.5), 0.0, 1.0)) for v in light.diffuse]
        else:
            gain = rng.uniform(0.55, 1.35)
            light.diffuse = [float(np.clip(v * gain, 0.0, 1.0)) for v in light.diffuse]
            light.pos = [float(light.pos[0] + rng.uniform(-1.5, 1.5)), float(light.pos[1] + rng.uniform(-1.5, 1.5)),
                         light.pos[2]]
    spec.ambient = [float(np.clip(spec.ambient[0] * rng.uniform(0.7, 1.3), 0.15, 0.55))] * 3
    finishes = sorted({w.material for w in spec.walls} | {d.material for d in spec.decor if not d.solid and d.z > 0.5})
    count = max(1, int(round(RETEXTURED_SHARE * len(finishes))))
    changed = [finishes[i] for i in rng.permutation(len(finishes))[:count]]
    for name in changed:
        old = spec.materials[name]
        kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
        rgb = [float(np.clip(c + rng.uniform(-0.2, 0.2), 0.03, 1.0)) for c in old.rgb]
        spec.materials[name] = dataclasses.replace(old, texture=kind, rgb=rgb)
    return len(changed)


def changed_world(spec: WorldSpec, changes: str, seed: int | tuple[int, ...],
                  route_points: list[tuple[float, float]], body_radius: float) -> tuple[WorldSpec, dict[str, int]]:
    """The world as the repeat finds it, and what changed ({'moved_pieces': n, 'changed_finishes': m})."""
    if changes not in CHANGES:
        raise GnmNavError(f"unknown world change {changes!r} (choose from {', '.join(CHANGES)})")
    out = copy.deepcopy(spec)
    report = {"moved_pieces": 0, "changed_finishes": 0}
    if changes == "none":
        return out, report
    rng = np.random.default_rng(seed)
    if changes in ("furniture", "both"):
        report["moved_pieces"] = move_furniture(out, rng, route_points, body_radius)
    if changes in ("lighting", "both"):
        report["changed_finishes"] = relight(out, rng)
    out.name = f"{spec.name}_changed_{changes}"
    return out, report
