"""ui.gate: at most RUNNING page runs compute at once, and none keeps its slot while it waits."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ui import gate
from ui.shared import _Shared

SAFETY = 60  # seconds: only a net for a broken gate, so a failure ends the test instead of hanging it; no assertion rests on time


def in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def free_slots() -> int:
    taken = 0
    while gate._SLOTS.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        gate._SLOTS.release()
    return taken


def test_no_more_than_running_page_runs_compute_at_once() -> None:
    inside, most, lock, go = [0], [0], threading.Lock(), threading.Event()
    entered = threading.Semaphore(0)

    def page() -> None:
        with gate.page_run():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            entered.release()
            go.wait(SAFETY)
            with lock:
                inside[0] -= 1

    threads = [in_thread(page) for _ in range(gate.RUNNING + 3)]
    for _ in range(gate.RUNNING):
        assert entered.acquire(timeout=SAFETY)
    assert not entered.acquire(timeout=0.2)  # the others wait for a slot
    go.set()
    for thread in threads:
        thread.join(SAFETY)
    assert most[0] == gate.RUNNING and free_slots() == gate.RUNNING


def test_a_waiting_page_run_lends_its_slot_and_takes_one_back() -> None:
    release_all, waiting_now, others_in = threading.Event(), threading.Event(), threading.Semaphore(0)
    held: list[bool] = []

    def waiter() -> None:
        with gate.page_run():
            with gate.waiting():
                held.append(gate.holding())
                waiting_now.set()
                release_all.wait(SAFETY)
            held.append(gate.holding())

    def other() -> None:
        with gate.page_run():
            others_in.release()
            release_all.wait(SAFETY)

    threads = [in_thread(waiter)]
    assert waiting_now.wait(SAFETY)
    threads += [in_thread(other) for _ in range(gate.RUNNING)]
    for _ in range(gate.RUNNING):  # every slot, the waiter's included, went to another page run
        assert others_in.acquire(timeout=SAFETY)
    release_all.set()
    for thread in threads:
        thread.join(SAFETY)
    assert held == [False, True] and free_slots() == gate.RUNNING


class Rerun(Exception):
    """Stands for Streamlit's RerunException, raised inside a page run at its next element."""


@pytest.mark.parametrize("inside_a_wait", [False, True])
def test_a_page_run_ended_by_an_exception_gives_its_slot_back(inside_a_wait: bool) -> None:
    with pytest.raises(Rerun), gate.page_run():
        if inside_a_wait:
            with gate.waiting():
                raise Rerun
        raise Rerun
    assert free_slots() == gate.RUNNING and not gate.holding()


def test_waiting_for_another_sessions_shared_build_frees_a_slot() -> None:
    """Without it, sessions waiting for a build held every slot and the build's own waits could never end."""
    shared, building, builder_may_finish = _Shared(4), threading.Event(), threading.Event()
    readers_in, newcomer_in = threading.Semaphore(0), threading.Event()

    def build() -> str:
        building.set()
        builder_may_finish.wait(SAFETY)
        return "figure"

    def builder() -> None:
        with gate.page_run():
            shared.get("view", build)

    read: list[str] = []

    def reader() -> None:
        with gate.page_run():
            readers_in.release()
            read.append(shared.get("view", build))

    def newcomer() -> None:
        with gate.page_run():
            newcomer_in.set()

    threads = [in_thread(builder)]
    assert building.wait(SAFETY)
    threads += [in_thread(reader) for _ in range(gate.RUNNING)]  # more readers than the slots the builder left
    for _ in range(gate.RUNNING):
        assert readers_in.acquire(timeout=SAFETY)
    threads.append(in_thread(newcomer))
    assert newcomer_in.wait(SAFETY)  # a slot was free although the builder and every reader were inside a page run
    builder_may_finish.set()
    for thread in threads:
        thread.join(SAFETY)
    assert read == ["figure"] * gate.RUNNING and shared.builds == 1 and free_slots() == gate.RUNNING
