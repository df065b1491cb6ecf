"""The garbage collector pause of bulk jobs (portal/core/collector.py)."""

from __future__ import annotations

import gc

import pytest

from portal.core.collector import collections_paused


def test_the_collector_is_off_while_any_job_holds_the_pause_and_back_on_after():
    assert gc.isenabled()
    with collections_paused():
        assert not gc.isenabled()
        with collections_paused():  # a second job in another thread
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_back_on_when_the_job_fails():
    with pytest.raises(RuntimeError), collections_paused():
        raise RuntimeError("the import failed")
    assert gc.isenabled()
