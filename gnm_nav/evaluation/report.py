"""Evaluation outputs: per-route JSON and PNG, summary.json (ours at the top level, the anchor under
"anchor_mode"), a trajectory overview PNG and the printed table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.atomic import atomic_write_bytes, atomic_write_json

# trajectory colours (RGB) in render order: expert, ours, anchor
LEGEND = (("expert (graph)", (230, 60, 40)), ("ours", (40, 110, 230)), ("anchor", (40, 170, 60)))


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
    for run in runs:
        for node, values in run.get("latency_ms", {}).items():
            for key, value in values.items():
                latency.setdefault(node, {}).setdefault(key, []).append(value)
    return {
        "routes": len(runs),
        "success_rate": len(successes) / len(runs),
        "spl": float(np.mean([r["spl"] for r in runs])),
        "collisions": int(sum(r["collisions"] for r in runs)),
        "collisions_per_route": float(np.mean([r["collisions"] for r in runs])),
        "interventions": int(sum(r["interventions"] for r in runs)),
        "mean_time_s_successes": float(np.mean([r["time_s"] for r in successes])) if successes else None,
        "mean_path_length_m": float(np.mean([r.get("path_length_m", 0.0) for r in runs])),
        # share of the recorded route driven along, in order (0 for a run that never started)
        "mean_route_progress": float(np.mean([r.get("route_progress", 0.0) for r in runs])),
        # how far the robot strayed from the recorded path: the median over routes of each run's 90th percentile
        "path_offset_m_p90": _median([r.get("steering", {}).get("path_offset_m_p90") for r in runs]),
        "safety_filter": any(r.get("safety_filter") for r in runs),
        "latency_ms": {node: {k: float(np.max(v) if k.endswith("p99") else np.median(v)) for k, v in keys.items()}
                       for node, keys in latency.items()},
        "failures": {rec["route_id"]: rec["runs"][mode]["reason"] for rec in records
                     if mode in rec.get("runs", {}) and not rec["runs"][mode]["success"]},
    }


def summary(records: list[dict[str, Any]], modes: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(summarise_mode(records, modes[0])) if modes else {}
    for mode in modes[1:]:
        out[mode] = summarise_mode(records, mode)
    out["routes_total"] = len(records)
    out["routes_not_built"] = {r["route_id"]: r["error"] for r in records if "error" in r}
    out["settings"] = settings
    return out


def route_png(record: dict[str, Any]) -> np.ndarray:
    """The world's map with the expert's route (red), ours (blue) and the anchor (green)."""
    import cv2

    from gnm_nav.sim.map_render import render_map
    from gnm_nav.sim.worlds import resolve_world

    trajs = [np.asarray(record.get("graph", {}).get("expert_trajectory", []), dtype=np.float64).reshape(-1, 3)]
    runs = record.get("runs", {})
    for mode in ("ours", "anchor_mode"):
        trajs.append(np.asarray(runs.get(mode, {}).get("trajectory", []), dtype=np.float64).reshape(-1, 3))
    img = np.ascontiguousarray(render_map(resolve_world(record["world"]), trajs))
    y = 18
    for label, colour in LEGEND:
        mode = {"ours": "ours", "anchor": "anchor_mode"}.get(label)
        if mode is not None:
            if mode not in runs:
                continue
            label += " ok" if runs[mode]["success"] else " FAIL"
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


def write_route(out: Path, record: dict[str, Any]) -> np.ndarray:
    atomic_write_json(out / "routes" / f"{record['route_id']}.json", record)
    img = route_png(record)
    write_png(out / "routes" / f"{record['route_id']}.png", img)
    return img


def table(summary_: dict[str, Any], modes: list[str]) -> str:
    def row(name: str, s: dict[str, Any]) -> str:
        if not s.get("routes"):
            return f"{name:<12} {'(no routes)':>8}"
        return (f"{name:<12} {s['routes']:>6} {s['success_rate']:>8.0%} {s['spl']:>6.2f} "
                f"{s['mean_route_progress']:>9.0%} {s['collisions']:>10} {s['interventions']:>13}")

    lines = [f"{'mode':<12} {'routes':>6} {'success':>8} {'SPL':>6} {'progress':>9} {'collisions':>10} "
             f"{'interventions':>13}"]
    lines.append(row(modes[0], summary_))
    lines += [row(m, summary_[m]) for m in modes[1:]]
    return "\n".join(lines)
