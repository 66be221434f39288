"""Run a per-video function over many videos, here or in worker processes; find the videos
and describe a failure in one line.

Results stream back as videos finish. A worker process that dies (a crash in native code, the
out-of-memory killer) fails only the video it was working on: the videos that were in flight
are retried one at a time in a fresh worker, and the one that kills its worker again becomes a
failed result while the rest go on. Ctrl-C reaches this process only; the workers are stopped.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from talkscore.errors import TalkscoreError

T = TypeVar("T")
Make = Callable[[], Callable[[str], T]]  # builds the per-process function (picklable)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
WORKER_DIED = "the worker process died while working on this video (a crash in native code?)"

_WORK: Callable[[str], object] | None = None


def find_videos(paths: Iterable[str | Path], recursive: bool = False) -> list[Path]:
    """Files as given, plus the videos inside given folders (sorted, without duplicates)."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for file in sorted(path.glob(pattern)):
                if file.is_file() and file.suffix.lower() in VIDEO_SUFFIXES:
                    found[file] = None
        else:
            found[path] = None
    return list(found)


def error_line(exc: BaseException) -> str:
    """One line describing an exception: the message, prefixed by the type when unexpected."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, TalkscoreError) else f"{type(exc).__name__}: {text}"


def run_jobs(
    make: Make, videos: Sequence[str], workers: int, crashed: Callable[[str, str], T]
) -> Iterator[T]:
    """`make()(video)` for every video, in this process (`workers` <= 1) or in worker processes
    (in completion order); `crashed(video, message)` stands for a video whose worker died.

    `make()` runs once per process; with workers it also runs here first, so setup errors
    (a missing model file) raise before any video is touched.
    """
    work = make()
    if workers <= 1 or len(videos) <= 1:
        yield from map(work, videos)
        return
    todo = deque(videos)
    suspects: deque[str] = deque()  # in flight when a worker died
    while todo or suspects:
        alone = bool(suspects)
        queue = deque([suspects.popleft()]) if alone else todo
        for video, result in _pool_run(make, queue, 1 if alone else workers):
            if result is not None:
                yield result
            elif alone:
                yield crashed(video, WORKER_DIED)
            else:
                suspects.append(video)


def _pool_run(make: Make, queue: deque[str], workers: int) -> Iterator[tuple[str, object | None]]:
    """(video, result) from one pool until `queue` is empty or a worker dies; then
    (video, None) for each video that was in flight (the rest stay in `queue`)."""
    context = multiprocessing.get_context("spawn")  # MediaPipe and ONNX threads do not fork
    pool = ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=(make,))
    running: dict[Future, str] = {}
    broken = False
    try:
        while running or (queue and not broken):
            while queue and not broken and len(running) < workers:
                video = queue.popleft()
                running[pool.submit(_run_in_worker, video)] = video
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for job in done:
                video = running.pop(job)
                try:
                    yield video, job.result()
                except BrokenProcessPool:
                    broken = True
                    yield video, None
    except BaseException:  # Ctrl-C or the consumer stopping: do not wait for the workers
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(make: Make) -> None:
    global _WORK
    from talkscore.runtime import configure_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    configure_threads()  # the stages of scoring and extraction run on threads of their own
    _WORK = make()


def _run_in_worker(video: str) -> object:
    return _WORK(video)
