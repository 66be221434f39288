"""Thread counts: one torch thread for scoring, the free cores for training."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from talkscore.runtime import busy_cores, configure_threads, usable_cores


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_scoring_gets_one_torch_thread_and_training_the_free_cores(restore_threads):
    assert configure_threads() == 1 and torch.get_num_threads() == 1
    threads = configure_threads(training=True)
    assert 1 <= threads <= usable_cores() and torch.get_num_threads() == threads
    assert configure_threads(workers=usable_cores() + 1, training=True) == 1


def test_a_busy_process_is_counted():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert busy_cores(sample_s=0.5) >= 0.5
    finally:
        spinner.kill()
        spinner.wait()
