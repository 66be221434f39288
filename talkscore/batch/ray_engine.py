"""Running per-video jobs on a Ray cluster (`--engine ray`; `pip install talkscore[ray]`).

The job (for scoring: the checkpoint's files and the face landmarker, as bytes) is put in Ray's
object store once; each worker is an actor that builds its scorer from it once and then takes
videos one at a time. Videos are read by path, so every node must see them at the same path (a
shared file system). Results stream back as they finish and are written by the caller exactly as
with the local engine; an actor that dies fails only its video and is replaced. Nothing here
imports Ray until a Ray engine runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from talkscore.batch.jobs import WORKER_DIED, Make
from talkscore.errors import BackendUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RayEngine:
    """Where and how to run: `address` of a running cluster (None: start a local one, on the
    loopback interface, with `local_cpus`), resources per worker."""

    address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    local_cpus: int | None = None

    def __call__(
        self, make: Make, videos: Sequence[str], workers: int, crashed: Callable[[str, str], T]
    ) -> Iterator[T]:
        """`make()(video)` for every video on `workers` actors, in completion order."""
        ray = _import_ray()
        started = not ray.is_initialized()
        if started:
            here = {"num_cpus": self.local_cpus, "_node_ip_address": "127.0.0.1"}
            ray.init(
                address=self.address, include_dashboard=False, log_to_driver=False,
                logging_level=logging.WARNING, **({} if self.address else here),
            )  # fmt: skip
        try:
            yield from self._run(ray, ray.put(make), list(videos), max(1, workers), crashed)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, make_ref, videos: list[str], workers: int, crashed) -> Iterator[Any]:
        worker_class = ray.remote(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task)(_Worker)
        idle = [worker_class.remote(make_ref) for _ in range(min(workers, len(videos)))]
        running: dict[Any, tuple[Any, str]] = {}  # result ref -> (actor, video)
        todo = list(reversed(videos))
        try:
            while todo or running:
                while todo and idle:
                    actor, video = idle.pop(), todo.pop()
                    running[actor.run.remote(video)] = (actor, video)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, video = running.pop(ref)
                try:
                    yield ray.get(ref)
                    idle.append(actor)
                except ray.exceptions.RayActorError:
                    yield crashed(video, WORKER_DIED)
                    idle.append(worker_class.remote(make_ref))
        finally:
            for actor, _ in running.values():
                ray.kill(actor)
            for actor in idle:
                ray.kill(actor)


class _Worker:
    """A Ray actor: builds the per-video function once, then runs it on videos."""

    def __init__(self, make: Make) -> None:
        self._work = make()

    def run(self, video: str) -> Any:
        return self._work(video)


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise BackendUnavailable("--engine ray needs Ray: pip install 'talkscore[ray]'") from error
    return ray
