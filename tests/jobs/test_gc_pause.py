"""The collector pause of a job run: nests, spans threads, and restores what it found."""

from __future__ import annotations

import gc
import threading

import pytest

from trailspike.jobs.gc_pause import gc_paused


def test_a_pause_turns_the_collector_off_and_back_on_even_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("a job failed")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_of_two_threads_end_with_the_collector_on() -> None:
    """Thread A enters, thread B enters, A leaves (B still runs: still off), B leaves (on)."""
    entered, a_left, b_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def b() -> None:
        with gc_paused():
            entered.set()
            a_left.wait(5)
            seen["b after a left"] = gc.isenabled()
        b_done.set()

    with gc_paused():
        thread = threading.Thread(target=b)
        thread.start()
        assert entered.wait(5)
    a_left.set()
    assert b_done.wait(5)
    thread.join(5)
    assert seen == {"b after a left": False}
    assert gc.isenabled()
