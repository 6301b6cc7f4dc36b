"""Collect GNM-format training data with the expert driver, across worlds and robot bodies, in worker processes.

Work is split into jobs (one world x one robot); each job writes trajectories named by (world, robot, k)
whose content is a pure function of the seeds, so a rerun after an interruption skips finished
trajectories and produces exactly what an uninterrupted run would have.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.data.gnm_format import (
    FRAME_RATE_HZ,
    TRAJ_DATA,
    read_trajectory,
    remove_partial_trajectories,
    write_data_config,
    write_splits,
    write_trajectory,
)
from gnm_nav.sim.env import load_profile
from gnm_nav.sim.world_gen import generate_world
from gnm_nav.sim.world_spec import save_world_spec

DATASET_PREFIX = "sim_"
MIN_TRAJ_FRAMES = 8


@dataclass(frozen=True)
class CollectJob:
    out: str
    world_seed: int
    world_index: int
    robot: str
    robot_index: int
    seed: int
    frames: int  # frame quota for this job
    min_route_m: float
    perturb: str = "none"  # a gnm_nav.sim.perturb preset ...
    perturb_share: float = 0.0  # ... applied to this share of the drives


@dataclass
class JobResult:
    trajectories: list[str] = field(default_factory=list)
    frames: int = 0
    metres: float = 0.0
    skipped: int = 0  # trajectories already present from an earlier run
    skipped_frames: int = 0


_progress: "mp.Queue | _ListQueue | None" = None


def _init_worker(progress: "mp.Queue | _ListQueue | None", in_worker_process: bool = False) -> None:
    global _progress
    _progress = progress
    if in_worker_process:
        os.environ.setdefault("LP_NUM_THREADS", "1")  # one software-GL thread each: the workers fill the cores
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it stops the pool)


def _report(n: int) -> None:
    if _progress is not None:
        _progress.put(n)


def dataset_name(robot: str) -> str:
    return f"{DATASET_PREFIX}{robot}"


def run_job(job: CollectJob) -> JobResult:
    """Drive routes in one world with one robot until the job's frame quota is met."""
    from gnm_nav.sim.env import SimEnv
    from gnm_nav.sim.expert import ExpertConfig, GridPlanner, PlanningError, sample_route
    from gnm_nav.sim.perturb import PERTURBATIONS, perturbed_route
    from gnm_nav.sim.rollout import expert_rollout

    world = generate_world(job.world_seed)
    profile = load_profile(job.robot)
    ds_dir = Path(job.out) / dataset_name(job.robot)
    result = JobResult()
    env = None
    k = 0
    try:
        while result.frames < job.frames:
            name = f"{world.name}_{job.robot}_{k:03d}"
            k += 1
            done = ds_dir / name
            if (done / TRAJ_DATA).is_file():
                traj = read_trajectory(done)
                result.trajectories.append(name)
                result.frames += len(traj)
                result.metres += float(np.linalg.norm(np.diff(traj.positions, axis=0), axis=1).sum())
                result.skipped += 1
                result.skipped_frames += len(traj)
                _report(len(traj))
                continue
            if env is None:
                env = SimEnv(world, profile, seed=job.seed)
                planner = GridPlanner(env.grid, profile.body_radius_m)
            rng = np.random.default_rng([job.seed, job.world_seed, job.robot_index, k])
            try:
                route = sample_route(planner, rng, job.min_route_m)
            except PlanningError:
                route = sample_route(planner, rng, job.min_route_m / 3)
            expert = ExpertConfig()
            if job.perturb != "none" and rng.random() < job.perturb_share:  # (clean data draws nothing here)
                perturbation = PERTURBATIONS[job.perturb]
                route, expert = perturbed_route(route, planner, perturbation, rng), perturbation.expert
            remaining = job.frames - result.frames
            max_time = min(2.5 * route.length / profile.max_v + 20.0, remaining / FRAME_RATE_HZ)
            frames, poses = [], []
            for step in expert_rollout(env, planner, route, rng, FRAME_RATE_HZ, max_time, config=expert):
                if step.frame is not None:
                    frames.append(step.frame)
                    poses.append((step.state.pose.x, step.state.pose.y, step.state.pose.yaw))
            if len(frames) < MIN_TRAJ_FRAMES and remaining >= MIN_TRAJ_FRAMES:
                continue
            arr = np.asarray(poses, dtype=np.float64)
            write_trajectory(ds_dir, name, frames, arr[:, :2], arr[:, 2])
            result.trajectories.append(name)
            result.frames += len(frames)
            result.metres += float(np.linalg.norm(np.diff(arr[:, :2], axis=0), axis=1).sum())
            _report(len(frames))
    finally:
        if env is not None:
            env.close()
    return result


@dataclass
class CollectSummary:
    frames: int  # in the dataset, including those from an earlier run
    new_frames: int  # written by this run
    metres: float
    trajectories: int
    skipped: int
    worlds: list[str]
    robots: list[str]
    seconds: float


def plan_jobs(out: Path, n_worlds: int, robots: list[str], frames: int, seed: int,
              min_route_m: float, perturb: str = "none", perturb_share: float = 0.0) -> list[CollectJob]:
    n_jobs = n_worlds * len(robots)
    quota = max(MIN_TRAJ_FRAMES, math.ceil(frames / n_jobs))
    return [CollectJob(out=str(out), world_seed=seed + i, world_index=i, robot=r, robot_index=j, seed=seed,
                       frames=quota, min_route_m=min_route_m, perturb=perturb, perturb_share=perturb_share)
            for i in range(n_worlds) for j, r in enumerate(robots)]


def held_out_worlds(n_worlds: int) -> set[int]:
    """World indices held out for the test split: the last ~20% (none if there is only one world)."""
    n_test = 0 if n_worlds < 2 else max(1, round(0.2 * n_worlds))
    return set(range(n_worlds - n_test, n_worlds))


def collect(out: Path, n_worlds: int, robots: list[str], frames: int, seed: int, workers: int = 1,
            min_route_m: float = 8.0, progress_bar: bool = True, perturb: str = "none",
            perturb_share: float = 0.5) -> CollectSummary:
    """Write a GNM-format dataset root at `out` (one dataset per robot), resuming any earlier partial run.
    perturb: a gnm_nav.sim.perturb preset applied to a share `perturb_share` of the drives (the rest clean)."""
    from tqdm import tqdm

    from gnm_nav.sim.perturb import PERTURBATIONS

    if perturb not in PERTURBATIONS:
        raise GnmNavError(f"unknown perturbation preset {perturb!r}; one of {', '.join(PERTURBATIONS)}")
    if not 0.0 <= perturb_share <= 1.0:
        raise GnmNavError(f"the perturbed share must be in [0, 1], got {perturb_share}")

    for r in robots:
        load_profile(r)  # fail fast on an unknown robot name, before any worker starts
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_perturbation(out, robots, perturb, perturb_share)
    worlds = [generate_world(seed + i) for i in range(n_worlds)]
    for w in worlds:
        save_world_spec(w, out / "worlds" / f"{w.name}.yaml")
    for r in robots:
        remove_partial_trajectories(out / dataset_name(r))
    jobs = plan_jobs(out, n_worlds, robots, frames, seed, min_route_m, perturb, perturb_share)
    start = time.monotonic()
    results: list[JobResult] = []
    bar = tqdm(total=sum(j.frames for j in jobs), unit="frame", desc="collect", disable=not progress_bar)
    if workers <= 1:
        _init_worker(_ListQueue(bar))
        try:
            results = [run_job(j) for j in jobs]
        finally:
            _init_worker(None)
    else:
        ctx = mp.get_context("spawn")  # fresh processes: each gets its own GL context
        progress = ctx.Queue()
        with ctx.Pool(workers, initializer=_init_worker, initargs=(progress, True)) as pool:
            pending = pool.map_async(run_job, jobs, chunksize=1)
            while not pending.ready():
                try:
                    bar.update(progress.get(timeout=0.2))
                except queue.Empty:
                    pass
            results = pending.get()
            while not progress.empty():
                bar.update(progress.get())
    bar.close()
    _write_metadata(out, jobs, results, robots, n_worlds)
    frames = sum(r.frames for r in results)
    return CollectSummary(frames=frames, new_frames=frames - sum(r.skipped_frames for r in results),
                          metres=sum(r.metres for r in results),
                          trajectories=sum(len(r.trajectories) for r in results),
                          skipped=sum(r.skipped for r in results), worlds=[w.name for w in worlds], robots=robots,
                          seconds=time.monotonic() - start)


class _ListQueue:
    """In-process stand-in for the progress queue: updates the bar directly."""

    def __init__(self, bar) -> None:
        self._bar = bar

    def put(self, n: int) -> None:
        self._bar.update(n)


def _check_same_perturbation(out: Path, robots: list[str], perturb: str, share: float) -> None:
    """A resumed dataset keeps the perturbation it was started with (its trajectories would otherwise mix two)."""
    from gnm_nav.data.gnm_format import read_data_config

    config = read_data_config(out) if (out / "data_config.yaml").is_file() else {}
    wanted = (perturb, share if perturb != "none" else 0.0)
    for robot in robots:
        record = config.get(dataset_name(robot), {}).get("perturbation", {"preset": "none", "share": 0.0})
        if dataset_name(robot) in config and (record["preset"], record["share"]) != wanted:
            raise GnmNavError(f"{out} was collected with perturbation {record['preset']} (share {record['share']}); "
                              f"asked for {wanted[0]} (share {wanted[1]}): collect into another folder")


def _perturbation_record(job: CollectJob) -> dict:
    """How the drives were disturbed (data_config.yaml): the preset, the share of drives, and its settings."""
    from gnm_nav.sim.perturb import PERTURBATIONS

    share = job.perturb_share if job.perturb != "none" else 0.0
    return {"preset": job.perturb, "share": share, "settings": PERTURBATIONS[job.perturb].as_config()}


def _write_metadata(out: Path, jobs: list[CollectJob], results: list[JobResult], robots: list[str],
                    n_worlds: int) -> None:
    from gnm_nav.data.gnm_format import read_data_config

    config = read_data_config(out)
    held_out = held_out_worlds(n_worlds)
    for robot in robots:
        mine = [(j, r) for j, r in zip(jobs, results) if j.robot == robot]
        frames = sum(r.frames for _, r in mine)
        metres = sum(r.metres for _, r in mine)
        steps = frames - sum(len(r.trajectories) for _, r in mine)
        spacing = metres / steps if steps > 0 else 0.0
        config[dataset_name(robot)] = {"metric_waypoint_spacing": round(spacing, 4), "robot": robot,
                                       "frame_rate_hz": FRAME_RATE_HZ, "source": "gnm_nav sim collect",
                                       "worlds": [f"seed {j.world_seed}" for j, _ in mine],
                                       "perturbation": _perturbation_record(jobs[0])}
        train = [t for j, r in mine if j.world_index not in held_out for t in r.trajectories]
        test = [t for j, r in mine if j.world_index in held_out for t in r.trajectories]
        if not test:  # one world: hold out every tenth trajectory instead
            test, train = train[::10], [t for i, t in enumerate(train) if i % 10]
        write_splits(out, dataset_name(robot), train, test)
    write_data_config(out, config)
