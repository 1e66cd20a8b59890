"""server/app.py `stop_jobs`: a background job that swallowed its cancel (as a cancel landing
inside a Redis call sometimes is) is cancelled again, so shutdown never hangs on it."""

from __future__ import annotations

import asyncio
import contextlib

from server.app import stop_jobs


async def test_a_job_that_swallows_its_first_cancel_is_still_stopped() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()  # what a buggy client library does
        await asyncio.sleep(3600)  # ...and the loop goes on to its next sleep

    async def polite() -> None:
        await asyncio.sleep(3600)

    jobs = [asyncio.create_task(stubborn()), asyncio.create_task(polite())]
    await asyncio.sleep(0)
    async with asyncio.timeout(1.0):
        await stop_jobs(jobs)
    assert swallowed.is_set() and all(job.cancelled() for job in jobs)


async def test_a_job_that_will_not_end_is_given_up_after_the_limit(monkeypatch: object) -> None:
    import server.app

    monkeypatch.setattr(server.app, "JOB_STOP_SECONDS", 0.2)  # type: ignore[attr-defined]
    released = False

    async def stubborn_until_released() -> None:
        while not released:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    job = asyncio.create_task(stubborn_until_released())
    await asyncio.sleep(0)
    async with asyncio.timeout(1.0):
        await stop_jobs([job])  # returns after the limit instead of hanging
    assert not job.done()
    released = True
    job.cancel()
    await asyncio.wait([job], timeout=1.0)
    assert job.done()
