"""WriteGate: writer-thread jobs share it, write sessions hold it alone, first come first
served, and a waiter that gives up does not jam it."""

from __future__ import annotations

import asyncio

import pytest

from store.db import WriteGate


async def _hold(gate: WriteGate, exclusive: bool, log: list[str], name: str) -> None:
    await gate.acquire(exclusive=exclusive)
    log.append(f"+{name}")
    await asyncio.sleep(0.01)
    log.append(f"-{name}")
    gate.release(exclusive=exclusive)


async def test_shared_holders_overlap_and_an_exclusive_one_waits_for_them() -> None:
    gate, log = WriteGate(), list[str]()
    await asyncio.gather(
        _hold(gate, False, log, "j1"), _hold(gate, False, log, "j2"), _hold(gate, True, log, "s")
    )
    assert log[:2] == ["+j1", "+j2"]  # together
    assert log.index("+s") > max(log.index("-j1"), log.index("-j2"))  # alone, after them


async def test_a_job_arriving_after_a_waiting_session_waits_behind_it() -> None:
    gate, log = WriteGate(), list[str]()
    first = asyncio.create_task(_hold(gate, False, log, "j1"))
    await asyncio.sleep(0)
    session = asyncio.create_task(_hold(gate, True, log, "s"))
    await asyncio.sleep(0)
    later = asyncio.create_task(_hold(gate, False, log, "j2"))
    await asyncio.gather(first, session, later)
    assert log == ["+j1", "-j1", "+s", "-s", "+j2", "-j2"]


async def test_sessions_exclude_each_other() -> None:
    gate, log = WriteGate(), list[str]()
    await asyncio.gather(*(_hold(gate, True, log, f"s{i}") for i in range(4)))
    assert log == [x for i in range(4) for x in (f"+s{i}", f"-s{i}")]


async def test_a_cancelled_waiter_does_not_jam_the_gate() -> None:
    gate = WriteGate()
    await gate.acquire(exclusive=True)
    waiting = asyncio.create_task(gate.acquire(exclusive=True))
    behind = asyncio.create_task(gate.acquire(exclusive=False))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.release(exclusive=True)
    await asyncio.wait_for(behind, 1)  # granted: the cancelled one left the queue
    gate.release(exclusive=False)
    await asyncio.wait_for(gate.acquire(exclusive=True), 1)
