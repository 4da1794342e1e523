"""Worker processes for runs side by side (``amem bench --parallel``, the experiments' runner):
spawned, so no forked torch thread pool or CUDA state, and on Linux ended with their parent, so a
benchmark or search stopped with Ctrl-C or killed outright leaves no training running behind it."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): the signal this process gets when its parent exits


def _end_with_parent(parent: int) -> None:
    """Worker initializer: SIGTERM when the parent process exits (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent exited before the request took effect
        os._exit(1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes that end when this process does."""
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent, initargs=(os.getpid(),)
    )
