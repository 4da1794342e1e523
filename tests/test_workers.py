"""Worker processes end with the process that started them, even when it is killed outright."""

import os
import signal
import subprocess
import sys
import time

import pytest

from appendable_memory.workers import worker_pool

PARENT = """
import os, time
from appendable_memory.workers import worker_pool
pool = worker_pool(1)
print(pool.submit(os.getpid).result(), flush=True)  # the worker has started, its initializer run
pool.submit(time.sleep, 120)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) counts as ended
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ending with the parent is Linux's prctl(PR_SET_PDEATHSIG)")
def test_workers_end_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed parent"
    finally:
        parent.kill()


def test_a_pool_runs_work():
    with worker_pool(2) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]
