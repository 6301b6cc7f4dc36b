"""A whole evaluation: routes one after another (each in its own work folder), outputs written as they
finish, so an interrupted run still leaves every finished route and a summary of them."""
from __future__ import annotations

import contextlib
import random
import signal
from pathlib import Path
from typing import Any, Iterator

from gnm_nav.atomic import atomic_write_json
from gnm_nav.evaluation.report import overview_png, summary, write_png, write_route
from gnm_nav.evaluation.routes import RouteTask
from gnm_nav.evaluation.runner import EvalConfig, Mode, evaluate_route


def private_domain_id() -> int:
    """A DDS domain of its own, so a simulator's /clock never reaches a real robot (or another evaluation)."""
    return random.SystemRandom().randint(101, 200)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so every node process is stopped."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_campaign(tasks: list[RouteTask], modes: list[Mode], cfg: EvalConfig, out: Path, settings: dict[str, Any],
                 domain_id: int | None = None, progress: bool = True,
                 graphs_from: Path | None = None) -> dict[str, Any]:
    """Evaluate every route; writes out/routes/*.json|png, out/summary.json, out/trajectories.png.
    graphs_from: an earlier evaluation's folder whose graphs are reused where it has them."""
    from tqdm import tqdm

    from gnm_nav.evaluation.monitor import StackMonitor

    domain = private_domain_id() if domain_id is None else domain_id
    out.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in modes]
    records: list[dict[str, Any]] = []
    images = []
    result: dict[str, Any] = {}
    with sigterm_as_interrupt():
        monitor = StackMonitor(domain_id=domain)
        try:
            bar = tqdm(tasks, desc="routes", unit="route", disable=not progress)
            for task in bar:
                bar.set_postfix_str(f"{task.world}, {task.planned_length_m:.0f} m")
                record = evaluate_route(task, modes, cfg, out / "work" / task.route_id, monitor, domain, graphs_from)
                records.append(record)
                images.append(write_route(out, record))
                result = summary(records, names, {**settings, "domain_id": domain})
                atomic_write_json(out / "summary.json", result)
                write_png(out / "trajectories.png", overview_png(images))
        finally:
            monitor.close()
    return result
