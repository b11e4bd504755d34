"""Calling asyncio-only clients (nats-py) from gevent greenlets.

One native thread runs one asyncio loop holding one client connection (made on first use), as one
service process shares one NATS connection. A greenlet hands the loop a coroutine factory and waits
cooperatively for its result, so N greenlets drive N concurrent asyncio calls, which the client
multiplexes over its connection (pending publishes leave in one write). Results come back through
one gevent ``async_`` watcher, the hub's thread-safe wake-up, and are handed to the waiting greenlets
in the hub. (A thread per call, the former design, spent the process's CPU on thread hand-offs.)
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Awaitable, Callable

import gevent
from gevent import monkey
from gevent.event import AsyncResult
from gevent.lock import Semaphore

# the loop's thread is a real one, and asyncio must use the real selector in it, not gevent's
_RealSelector = monkey.get_original("selectors", ["DefaultSelector"])[0]
_start_thread = monkey.get_original("_thread", ["start_new_thread"])[0]


class AsyncioBridge:
    def __init__(self, connect: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[None]]):
        self._connect, self._close = connect, close
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._opening = Semaphore()
        self._done: deque[tuple[AsyncResult, BaseException | None, Any]] = deque()
        self._pending = 0
        self._wake = gevent.get_hub().loop.async_()
        self._wake.ref = False  # only calls in flight keep the hub waiting for it, not an idle bridge
        self._wake.start(self._deliver)

    def call(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``fn(client)`` on the loop; the calling greenlet yields meanwhile."""
        if self._client is None:
            with self._opening:
                if self._client is None:
                    self._loop = asyncio.SelectorEventLoop(_RealSelector())
                    _start_thread(self._run_loop, (self._loop,))
                    self._client = self._submit(lambda _none: self._connect())
        return self._submit(fn)

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:  # the loop's thread
        loop.run_forever()
        loop.close()

    def _submit(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        result = AsyncResult()
        self._pending += 1
        self._wake.ref = True
        try:
            self._loop.call_soon_threadsafe(self._start, fn, result)
            return result.get()
        finally:
            self._pending -= 1
            self._wake.ref = self._pending > 0

    def _start(self, fn, result: AsyncResult) -> None:  # in the loop's thread
        def finished(task: asyncio.Task) -> None:
            exc = asyncio.CancelledError() if task.cancelled() else task.exception()
            self._done.append((result, exc, None if exc else task.result()))
            self._wake.send()

        try:
            self._loop.create_task(fn(self._client)).add_done_callback(finished)
        except Exception as exc:  # fn itself failed before giving a coroutine
            self._done.append((result, exc, None))
            self._wake.send()

    def _deliver(self) -> None:  # in the hub
        while self._done:
            result, exc, value = self._done.popleft()
            if exc is None:
                result.set(value)
            else:
                result.set_exception(exc)

    def close(self) -> None:
        """Close the connection on its loop and stop the loop's thread."""
        if self._client is None:
            return
        try:
            self._submit(self._close)
        except Exception:  # the connection is closed either way
            pass
        finally:
            loop, self._client, self._loop = self._loop, None, None
            loop.call_soon_threadsafe(loop.stop)
