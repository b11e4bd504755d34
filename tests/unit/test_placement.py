"""CPU placement: servers on half of the CPUs, load generators on the other half, and back afterwards."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from estate.local.placement import Placement, placed, split

# A process with a second thread and a child: what a server looks like (PostgreSQL forks, Go starts threads).
SERVER = """
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""

# A bench under the placement, killed by SIGTERM while it measures.
BENCH = """
import sys, time
from estate.local.placement import placed, split
with placed([int(sys.argv[1])], split()):
    print("placed", flush=True)
    time.sleep(60)
"""

FORK_CHILD = ("import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)")


def masks(*pids: int) -> dict[int, set[int]]:
    """Each thread of ``pids`` (read from /proc, not through the code under test) with its CPU affinity."""
    return {tid: os.sched_getaffinity(tid) for pid in pids for tid in map(int, os.listdir(f"/proc/{pid}/task"))}


def test_split_gives_the_servers_the_first_half() -> None:
    assert split([0, 1]) == Placement((0,), (1,))
    assert split([0, 1, 2]) == Placement((0, 1), (2,))
    assert split([4, 2, 7, 5]) == Placement((2, 4), (5, 7))
    assert split([3]) is None
    assert split([0, 1]).describe() == "servers on CPU 0, load generators on CPU 1"


@pytest.fixture
def server():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    yield proc, child
    proc.kill()
    proc.wait()
    os.kill(child, 9)


@pytest.fixture
def cpus() -> Placement:
    if (found := split()) is None:
        pytest.skip("needs two CPUs: this process may use one")
    return found


def test_placed_pins_every_thread_and_child_and_gives_them_back(server, cpus: Placement) -> None:
    proc, child = server
    everything = os.sched_getaffinity(0)
    assert len(masks(proc.pid, child)) >= 3  # the main thread, its thread, the child
    with placed([proc.pid], cpus):
        during = masks(proc.pid, child)
        assert all(mask == set(cpus.servers) for mask in during.values()), during
        assert os.sched_getaffinity(0) == set(cpus.generators)
        started = subprocess.run([sys.executable, "-c", FORK_CHILD], capture_output=True, text=True)
        grandchild = int(started.stdout)  # started by a generator: runs on the generators' CPUs
        assert os.sched_getaffinity(grandchild) == set(cpus.generators)
        os.kill(grandchild, 9)
    after = masks(proc.pid, child)
    assert all(mask == everything for mask in after.values()), after
    assert os.sched_getaffinity(0) == everything


def test_placed_gives_the_cpus_back_when_the_body_fails(server, cpus: Placement) -> None:
    proc, child = server
    everything = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError), placed([proc.pid], cpus):
        time.sleep(0.01)
        raise RuntimeError("the campaign failed")
    assert all(mask == everything for mask in masks(proc.pid, child).values())
    assert os.sched_getaffinity(0) == everything


def test_a_bench_ended_by_sigterm_gives_the_cpus_back(server, cpus: Placement) -> None:
    proc, child = server
    everything = os.sched_getaffinity(0)
    bench = subprocess.Popen([sys.executable, "-c", BENCH, str(proc.pid)], stdout=subprocess.PIPE, text=True)
    assert bench.stdout.readline().strip() == "placed"
    assert all(mask == set(cpus.servers) for mask in masks(proc.pid, child).values())
    bench.terminate()
    assert bench.wait(timeout=10) == 128 + 15
    assert all(mask == everything for mask in masks(proc.pid, child).values())
