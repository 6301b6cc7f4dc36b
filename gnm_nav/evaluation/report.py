"""Evaluation outputs: per-route JSON and PNG, summary.json (one object per mode), a trajectory overview PNG, and
the tables (plain text for the terminal, Markdown for the README) generated from summary.json."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.common.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from gnm_nav.common.errors import GnmNavError

EXPERT_COLOUR = (230, 60, 40)
MODE_COLOURS = [(40, 110, 230), (40, 170, 60), (200, 120, 20), (150, 60, 200), (20, 170, 180), (120, 120, 120),
                (220, 60, 160), (120, 80, 30)]
SUMMARY_VERSION = 2


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate: honest at 0/20 and 20/20, where the normal one is not."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def summarise_mode(records: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """Aggregate one mode over the routes that have a graph (a route the expert could not drive is not scored)."""
    runs = [r["runs"][mode] for r in records if mode in r.get("runs", {})]
    if not runs:
        return {"routes": 0}
    successes = [r for r in runs if r["success"]]
    latency: dict[str, dict[str, list[float]]] = {}
    states: dict[str, int] = {}
    for run in runs:
        for node, values in run.get("latency_ms", {}).items():
            for key, value in values.items():
                latency.setdefault(node, {}).setdefault(key, []).append(value)
        for state, count in run.get("safety_states", {}).items():
            states[state] = states.get(state, 0) + count
    km = sum(r.get("path_length_m", 0.0) for r in runs) / 1000.0
    collisions = int(sum(r["collisions"] for r in runs))
    low, high = wilson_interval(len(successes), len(runs))
    return {
        "routes": len(runs),
        "successes": len(successes),
        "success_rate": len(successes) / len(runs),
        "success_ci95": [low, high],
        "spl": float(np.mean([r["spl"] for r in runs])),
        "collisions": collisions,
        "collisions_per_km": collisions / km if km > 0 else None,
        "distance_km": km,
        "stuck_events": int(sum(r.get("stuck_events", 0) for r in runs)),
        "interventions": int(sum(r["interventions"] for r in runs)),
        "safety_states": dict(sorted(states.items())),
        "mean_time_s_successes": float(np.mean([r["time_s"] for r in successes])) if successes else None,
        "mean_path_length_m": float(np.mean([r.get("path_length_m", 0.0) for r in runs])),
        # share of the recorded route driven along, in order (0 for a run that never started)
        "mean_route_progress": float(np.mean([r.get("route_progress", 0.0) for r in runs])),
        # how far the robot strayed from the recorded path: the median over routes of each run's 90th percentile
        "path_offset_m_p90": _median([r.get("steering", {}).get("path_offset_m_p90") for r in runs]),
        "odometry_error_pct_median": _median([r.get("odometry_error_pct") for r in runs]),
        "safety_filter": any(r.get("safety_filter") for r in runs),
        "latency_ms": {node: {k: float(np.max(v) if k.endswith("p99") else np.median(v)) for k, v in keys.items()}
                       for node, keys in latency.items()},
        "failures": {rec["route_id"]: rec["runs"][mode]["reason"] for rec in records
                     if mode in rec.get("runs", {}) and not rec["runs"][mode]["success"]},
    }


def mode_order(records: list[dict[str, Any]], first: list[str]) -> list[str]:
    """`first`, then every other mode the records hold, in the order met."""
    names = list(first)
    for rec in records:
        names += [m for m in rec.get("runs", {}) if m not in names]
    return names


def summary(records: list[dict[str, Any]], modes: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    built = [r for r in records if "error" not in r]
    lengths = [r["planned_length_m"] for r in built if "planned_length_m" in r]
    return {
        "summary_version": SUMMARY_VERSION,
        "modes": {m: summarise_mode(records, m) for m in modes},
        "routes_total": len(records),
        "route_length_m": [min(lengths), max(lengths)] if lengths else None,
        "routes_not_built": {r["route_id"]: r["error"] for r in records if "error" in r},
        "settings": settings,
    }


def load_summary(path: Path) -> dict[str, Any]:
    path = path / "summary.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GnmNavError(f"cannot read an evaluation summary from {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("summary_version") != SUMMARY_VERSION:
        raise GnmNavError(f"{path} is not a summary.json of this gnm-nav eval (summary_version {SUMMARY_VERSION})")
    return data


# ---- tables ---------------------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _latency(s: dict[str, Any], node: str, key: str) -> str:
    values = s.get("latency_ms", {}).get(node, {})
    p50, p99 = values.get(f"{key}_p50"), values.get(f"{key}_p99")
    return "-" if p50 is None else f"{p50:.0f} / {_fmt(p99, '.0f')}"


COLUMNS = ("mode", "routes", "success (95% CI)", "SPL", "route progress", "collisions / km", "stuck events",
           "filter interventions", "mean time (successes)", "odometry error", "planner tick p50 / p99",
           "policy step p50 / p99")


def _row(name: str, s: dict[str, Any]) -> list[str]:
    if not s.get("routes"):
        return [name, "0"] + ["-"] * (len(COLUMNS) - 2)
    low, high = s["success_ci95"]
    return [name, str(s["routes"]), f"{s['success_rate']:.0%} ({low:.0%}-{high:.0%})", f"{s['spl']:.2f}",
            f"{s['mean_route_progress']:.0%}", _fmt(s["collisions_per_km"], ".0f"), str(s["stuck_events"]),
            str(s["interventions"]) if s["safety_filter"] else "-",
            _fmt(s["mean_time_s_successes"], ".0f") + (" s" if s["mean_time_s_successes"] is not None else ""),
            _fmt(s.get("odometry_error_pct_median"), ".1f") + ("%" if s.get("odometry_error_pct_median") is not None
                                                                else ""),
            _latency(s, "topological_planner_node", "tick_ms"), _latency(s, "gnm_policy_node", "inference_ms")]


def table(summary_: dict[str, Any]) -> str:
    """The summary as aligned plain text."""
    rows = [list(COLUMNS)] + [_row(m, s) for m, s in summary_["modes"].items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def markdown(summary_: dict[str, Any]) -> str:
    """The summary as a Markdown table, with the line that says what was measured."""
    st = summary_.get("settings", {})
    lengths = summary_.get("route_length_m")
    worlds = st.get("worlds", [])
    scope = (f"{summary_['routes_total'] - len(summary_['routes_not_built'])} routes"
             + (f" of {lengths[0]:.1f}-{lengths[1]:.1f} m" if lengths else "")
             + f" ({st.get('preset', 'standard')}), worlds {_world_span(worlds)}, robot {st.get('robot')}, "
             f"odometry noise {st.get('odom_noise')}, changes {st.get('changes')}")
    lines = [f"`{st.get('command_line', 'gnm-nav eval')}`: {scope}", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(m, s)) + " |" for m, s in summary_["modes"].items()]
    return "\n".join(lines)


def _world_span(worlds: list[str]) -> str:
    if not worlds:
        return "-"
    return worlds[0] if len(worlds) == 1 else f"{worlds[0]} .. {worlds[-1]} ({len(worlds)})"


MARKER = "<!-- gnm-nav {kind} report: {name} -->"  # kind: eval, bench
END_MARKER = "<!-- end of gnm-nav {kind} report -->"


def update_document(path: Path, name: str, text: str, kind: str = "eval") -> None:
    """Replace the block between `<!-- gnm-nav KIND report: NAME -->` and its end marker in a Markdown file."""
    doc = path.read_text(encoding="utf-8")
    begin, end = MARKER.format(kind=kind, name=name), END_MARKER.format(kind=kind)
    if doc.count(begin) != 1:
        raise GnmNavError(f"{path}: expected one line {begin!r} where the table goes")
    head, rest = doc.split(begin, 1)
    if end not in rest:
        raise GnmNavError(f"{path}: {begin!r} has no {end!r} after it")
    atomic_write_text(path, f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")


def document_block(path: Path, name: str, kind: str = "eval") -> str:
    """The text between a report's markers (what update_document wrote)."""
    doc = path.read_text(encoding="utf-8")
    begin = MARKER.format(kind=kind, name=name)
    if begin not in doc:
        raise GnmNavError(f"{path}: no {begin!r}")
    return doc.split(begin, 1)[1].split(END_MARKER.format(kind=kind), 1)[0].strip("\n")


# ---- pictures -------------------------------------------------------------------------------------------------
def _path(points: list) -> np.ndarray:
    """[N, 2+] rows whose first two columns are x, y (the benchmark's rows carry a third, the closed loop's not)."""
    array = np.asarray(points, dtype=np.float64)
    return array if array.ndim == 2 and array.shape[1] >= 2 else array.reshape(-1, 2)


def route_png(record: dict[str, Any], modes: list[str] | None = None) -> np.ndarray:
    """The teach world's map with the expert's route (red) and, on the repeat world's map beside it when the world
    changed, each mode's trajectory in its own colour."""
    import cv2

    from gnm_nav.sim.map_render import render_map
    from gnm_nav.sim.worlds import resolve_world

    runs = record.get("runs", {})
    modes = modes if modes is not None else list(runs)
    expert = _path(record.get("graph", {}).get("expert_trajectory", []))
    drawn = [(m, MODE_COLOURS[i % len(MODE_COLOURS)]) for i, m in enumerate(modes) if m in runs]
    trajs = [_path(runs[m].get("trajectory", [])) for m, _ in drawn]
    teach = resolve_world(record["world"])
    changed = record.get("changes", {}).get("world_file")
    if changed and Path(changed).is_file():
        left = render_map(teach, [expert], colours=[EXPERT_COLOUR])
        right = render_map(resolve_world(changed), [expert, *trajs], colours=[EXPERT_COLOUR] + [c for _, c in drawn])
        gap = np.full((left.shape[0], 12, 3), 255, np.uint8)
        img = np.ascontiguousarray(np.concatenate([left, gap, right], axis=1))
        cv2.putText(img, "teach", (8, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, "repeat (changed)", (left.shape[1] + 20, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    else:
        img = np.ascontiguousarray(render_map(teach, [expert, *trajs], colours=[EXPERT_COLOUR] + [c for _, c in drawn]))
    y = 18
    for label, colour in [("expert (graph)", EXPERT_COLOUR)] + [
            (f"{m} {'ok' if runs[m]['success'] else 'FAIL'}", c) for m, c in drawn]:
        cv2.putText(img, label, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
        y += 18
    return img


def overview_png(images: list[np.ndarray], cell: tuple[int, int] = (480, 360), columns: int = 4) -> np.ndarray:
    """All route pictures in a grid of equal cells (width, height), each scaled to fit and centred on white."""
    import cv2

    width, height = cell
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    sheet = np.full((rows * height, columns * width, 3), 255, np.uint8)
    for k, im in enumerate(images):
        scale = min(width / im.shape[1], height / im.shape[0])
        w, h = max(1, int(im.shape[1] * scale)), max(1, int(im.shape[0] * scale))
        y0 = (k // columns) * height + (height - h) // 2
        x0 = (k % columns) * width + (width - w) // 2
        sheet[y0:y0 + h, x0:x0 + w] = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
    return sheet


def write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"cannot encode {path}")
    atomic_write_bytes(path, data.tobytes())


def write_route(out: Path, record: dict[str, Any], modes: list[str] | None = None) -> np.ndarray:
    atomic_write_json(out / "routes" / f"{record['route_id']}.json", record)
    img = route_png(record, modes)
    write_png(out / "routes" / f"{record['route_id']}.png", img)
    return img
