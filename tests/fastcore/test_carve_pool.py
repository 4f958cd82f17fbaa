"""The uint8 kernel's thread pool (fastcore/_carve_pool.h): no end barrier, so it is checked
for what a barrier used to guarantee. Every voxel is written exactly as one thread writes it,
whatever the thread count; helpers really take items; a forked child starts its own helpers
and is not stuck on the parent's; two callers at once both get the whole grid; helpers are
kept off the caller's CPU."""
from __future__ import annotations

import multiprocessing
import os
import pathlib
import sys
import threading
import time

import numpy as np
import pytest

from camdeck.fastcore.bench import GRID_EXTENT_M, make_bench_frame
from camdeck.fastcore.validation import U8_TO_FLOAT

from camdeck.fastcore import _carve  # the pool is the built extension's: a missing build must fail, not skip


@pytest.fixture(scope="module")
def frame():
    f = make_bench_frame(image_size=(640, 360), scene="dense")
    return [np.ascontiguousarray(im) for im in f.images], f


def coefficients(f, N):
    K = np.ascontiguousarray(np.broadcast_to(f.K, (2, 3, 3)))
    return _carve.coefficients(K, np.ascontiguousarray(f.R), np.ascontiguousarray(f.t),
                               np.asarray(f.grid_center, float), N, GRID_EXTENT_M / N)


def carve(ims, coef, N, threads):
    out = np.full((N, N, N), np.nan, np.float32)     # a voxel nobody wrote stays NaN
    _carve.carve_u8(ims, coef, out, U8_TO_FLOAT, threads)
    return out


@pytest.mark.parametrize("N", [48, 96, 160])
def test_every_thread_count_writes_the_grid_one_thread_writes(frame, N):
    ims, f = frame
    coef = coefficients(f, N)
    one = carve(ims, coef, N, 1)
    assert not np.isnan(one).any()
    assert 0.4 < np.count_nonzero(one) / one.size < 0.7        # the dense scene, really carved
    for threads in (2, 3, 8):
        for _ in range(5):          # several jobs in a row: a stale helper must not claim a new one's items
            np.testing.assert_array_equal(carve(ims, coef, N, threads), one)


def test_helpers_take_items(frame):
    ims, f = frame
    coef = coefficients(f, 160)
    _, before = _carve.pool_stats()
    deadline = time.monotonic() + 30
    while _carve.pool_stats()[1] == before and time.monotonic() < deadline:
        carve(ims, coef, 160, 4)
    helpers, items = _carve.pool_stats()
    assert helpers >= 3 and items > before


def helper_cpus() -> list[set[int]]:
    """The CPUs each of this process's carve helpers may run on (Linux: /proc)."""
    found = []
    for task in pathlib.Path("/proc/self/task").iterdir():
        if (task / "comm").read_text().strip() == "camdeck-carve":
            status = (task / "status").read_text()
            listed = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                          if line.startswith("Cpus_allowed_list"))
            cpus = set()
            for part in listed.split(","):
                lo, _, hi = part.partition("-")
                cpus.update(range(int(lo), int(hi or lo) + 1))
            found.append(cpus)
    return found


def current_cpu() -> int:
    """The CPU this thread runs on (field 39 of /proc/thread-self/stat)."""
    stat = pathlib.Path("/proc/thread-self/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[36])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names and affinity: Linux")
def test_helpers_are_kept_off_the_callers_cpu(frame):
    """Beside a busy process a helper on the caller's CPU would halve the caller's speed; so each
    helper may run on every CPU the caller may use but the one it posted the job from. The
    caller is moved to each CPU in turn (pinned there, then let go, so it may use them all
    again while it carves); a carve during which it moved again is tried again."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("this process may use one CPU: there is nothing to keep the helpers off")
    ims, f = frame
    coef = coefficients(f, 96)
    try:
        for cpu in sorted(allowed)[:4]:
            for _ in range(20):
                os.sched_setaffinity(0, {cpu})
                os.sched_setaffinity(0, allowed)
                carve(ims, coef, 96, 2)
                if current_cpu() == cpu:
                    break
            else:
                pytest.fail(f"the caller never stayed on CPU {cpu} through a carve")
            cpus = helper_cpus()
            assert cpus, "the helpers are named camdeck-carve"
            for helper in cpus:
                assert helper == allowed - {cpu}, (cpu, helper, allowed)
    finally:
        os.sched_setaffinity(0, allowed)


def _child(conn, ims, coef, N):
    started = _carve.pool_stats()[0]
    out = carve(ims, coef, N, 2)
    conn.send((started, _carve.pool_stats()[0], out))
    conn.close()


def carve_in_forked_child(ims, coef, N):
    """(helpers before, helpers after, grid) of a 2-thread carve in a forked child."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, ims, coef, N))
    child.start()
    assert recv.poll(60), "the forked child never finished its carve"
    result = recv.recv()
    child.join(10)
    assert child.exitcode == 0
    return result


def test_a_forked_child_carves_with_its_own_helpers(frame):
    ims, f = frame
    coef = coefficients(f, 96)
    parent = carve(ims, coef, 96, 2)                 # the parent's pool is running
    started, after, out = carve_in_forked_child(ims, coef, 96)
    assert started == 0            # the parent's helper threads are not in the child ...
    assert after >= 1              # ... which started its own
    np.testing.assert_array_equal(out, parent)


def test_a_child_forked_while_another_thread_carves_gets_its_own_helpers(frame):
    """The fork catches the pool mid-job (another thread owns it): the child must not inherit
    that ownership, or every carve it makes would run on one thread, silently."""
    ims, f = frame
    big, small = coefficients(f, 160), coefficients(f, 96)
    want = carve(ims, small, 96, 1)
    stop = threading.Event()

    def keep_carving():
        while not stop.is_set():
            carve(ims, big, 160, 2)

    busy = threading.Thread(target=keep_carving)
    busy.start()
    try:
        time.sleep(0.2)
        for _ in range(3):
            _, after, out = carve_in_forked_child(ims, small, 96)
            assert after >= 1, "the child carved without helpers"
            np.testing.assert_array_equal(out, want)
    finally:
        stop.set()
        busy.join(60)


def test_two_callers_at_once_each_get_their_whole_grid(frame):
    ims, f = frame
    coef = coefficients(f, 96)
    want = carve(ims, coef, 96, 1)
    failures = []

    def worker():
        for _ in range(15):
            got = carve(ims, coef, 96, 2)
            if not np.array_equal(got, want):
                failures.append(int(np.count_nonzero(got != want)))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
