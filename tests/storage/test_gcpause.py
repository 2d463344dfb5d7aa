"""Pausing the cyclic garbage collector (``storage/gcpause.py``)."""

from __future__ import annotations

import gc
import threading

from storage import gcpause


def test_pauses_nest_and_overlap_across_threads() -> None:
    assert gc.isenabled()
    inner_done = threading.Event()
    outer_may_end = threading.Event()

    def other() -> None:
        with gcpause.paused():
            outer_may_end.set()
            inner_done.wait(10)

    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        t = threading.Thread(target=other)
        t.start()
        outer_may_end.wait(10)
    assert not gc.isenabled()  # the other thread's pause is still on
    inner_done.set()
    t.join()
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_program_stays_off() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
