"""The talkscore CLI as a child process that Ctrl-C reaches (for the interruption tests)."""

from __future__ import annotations

import subprocess
import sys

#: A Python started with SIGINT ignored (every background job of a non-interactive shell, such as
#: a CI script run with `&`) never turns Ctrl-C into KeyboardInterrupt, and its children inherit
#: that; the child restores the handler an interactive user's process has.
MAIN = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from talkscore.cli import app; app()"
)


def start_cli(args: list) -> subprocess.Popen:
    """`talkscore ARGS` in a child process, its output captured as text."""
    command = [sys.executable, "-c", MAIN, *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
