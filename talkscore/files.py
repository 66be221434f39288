"""Writing files so that a crash or a full disk never leaves half a file behind, and
unpacking files that travelled as bytes (to Ray workers)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: str | Path, write: Callable[[str], object], suffix: str = ".tmp") -> None:
    """Call `write(tmp_path)` on a temporary file beside `target`, then rename it onto `target`.

    `suffix` is the temporary file's ending (np.savez, for one, insists on `.npz`).
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def unpack(files: dict[str, bytes]) -> Path:
    """Write `files` (relative path -> bytes) into a new temporary folder and return it; the
    folder stays for the life of the process that uses it."""
    folder = Path(tempfile.mkdtemp(prefix="talkscore-job-"))
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder
