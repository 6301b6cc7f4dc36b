"""A whole evaluation: routes one after another (each in its own work folder), every mode's run written as it
finishes. Running the same command again continues where an interrupted run stopped: the routes' graphs and
finished runs are kept, provided the evaluation's settings (`identity`) are the same."""
from __future__ import annotations

import contextlib
import json
import random
import signal
from pathlib import Path
from typing import Any, Iterator

from gnm_nav.common.atomic import atomic_write_json
from gnm_nav.common.errors import GnmNavError
from gnm_nav.evaluation.modes import Mode, fingerprint
from gnm_nav.evaluation.report import mode_order, overview_png, route_png, summary, write_png, write_route
from gnm_nav.evaluation.routes import RouteTask
from gnm_nav.evaluation.runner import EvalConfig, _same_route, evaluate_route


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


def check_resumable(out: Path, identity: dict[str, Any]) -> None:
    """An output folder holding an evaluation with other settings is refused (mixing them would report nonsense)."""
    path = out / "summary.json"
    if not path.is_file():
        return
    try:
        earlier = json.loads(path.read_text(encoding="utf-8")).get("settings", {}).get("identity")
    except (OSError, ValueError, AttributeError):
        raise GnmNavError(f"{path} is unreadable: give another --out") from None
    if earlier is None:
        raise GnmNavError(f"{out} holds an evaluation of an older gnm-nav eval: give another --out")
    differ = sorted(k for k in set(identity) | set(earlier) if identity.get(k) != earlier.get(k))
    if differ:
        raise GnmNavError(f"{out} holds an evaluation with other settings ({', '.join(differ)} differ): give another "
                          "--out, or the same settings to continue it")


def _records_on_disk(out: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for path in sorted((out / "routes").glob("*.json")):
        try:
            records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a route whose file is damaged is simply evaluated again
    return records


def run_campaign(tasks: list[RouteTask], modes: list[Mode], cfg: EvalConfig, out: Path, settings: dict[str, Any],
                 domain_id: int | None = None, progress: bool = True,
                 graphs_from: Path | None = None) -> dict[str, Any]:
    """Evaluate every route; writes out/routes/*.json|png, out/summary.json (over every route in out/routes),
    out/trajectories.png. graphs_from: an earlier evaluation's folder whose graphs are reused where it has them."""
    from tqdm import tqdm

    from gnm_nav.evaluation.monitor import StackMonitor

    check_resumable(out, settings["identity"])
    domain = private_domain_id() if domain_id is None else domain_id
    out.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in modes]
    settings = {**settings, "domain_id": domain}
    records = _records_on_disk(out)

    def write_summary(pictures: bool) -> dict[str, Any]:
        ordered = [records[k] for k in sorted(records)]
        shown = mode_order(ordered, names)
        result = summary(ordered, shown, settings)
        atomic_write_json(out / "summary.json", result)
        images = [route_png(r, shown) for r in ordered if "world" in r] if pictures else []
        if images:
            write_png(out / "trajectories.png", overview_png(images))
        return result

    def save(record: dict[str, Any]) -> None:
        records[record["route_id"]] = record
        write_route(out, record, mode_order([record], names))
        write_summary(pictures=False)

    def finished(record: dict[str, Any]) -> bool:
        runs = record.get("runs", {})
        return "error" not in record and all(
            m.name in runs and runs[m.name].get("mode_fingerprint") == fingerprint(m.to_dict()) for m in modes)

    with sigterm_as_interrupt():
        monitor = StackMonitor(domain_id=domain)
        try:
            bar = tqdm(tasks, desc="routes", unit="route", disable=not progress)
            for task in bar:
                bar.set_postfix_str(f"{task.world}, {task.planned_length_m:.0f} m")
                earlier = records.get(task.route_id)
                if earlier is not None and not _same_route(earlier, task, cfg.robot):
                    raise GnmNavError(f"{out / 'routes' / task.route_id}.json is another route than {task.route_id} "
                                      "of this evaluation: give another --out")
                if earlier is not None and finished(earlier):
                    continue
                record = evaluate_route(task, modes, cfg, out / "work" / task.route_id, monitor, domain, graphs_from,
                                        None if earlier is None or "error" in earlier else earlier, save)
                save(record)
                write_summary(pictures=True)
        finally:
            monitor.close()
    return write_summary(pictures=True)
