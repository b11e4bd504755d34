"""Calling asyncio-only clients (nats-py) from gevent greenlets.

Each native thread of gevent's thread pool owns one asyncio loop and one client connection (made on
first use). A greenlet hands a coroutine factory to the pool and waits cooperatively for the result,
so N greenlets drive up to ``size`` concurrent asyncio calls without sharing a loop across threads.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import gevent
from gevent import monkey

# asyncio must use the real selector, not gevent's, inside the native threads
_RealSelector = monkey.get_original("selectors", ["DefaultSelector"])[0]


class AsyncioBridge:
    def __init__(self, connect: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[None]], size: int):
        self._connect, self._close = connect, close
        self._local = monkey.get_original("_thread", ["_local"])[0]()  # per native thread
        self._opened: list[tuple[asyncio.AbstractEventLoop, Any]] = []
        self._lock = monkey.get_original("threading", ["Lock"])[0]()
        self.pool = gevent.get_hub().threadpool
        self.pool.maxsize = max(self.pool.maxsize, size)

    def _in_thread(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        if not hasattr(self._local, "loop"):
            loop = asyncio.SelectorEventLoop(_RealSelector())
            client = loop.run_until_complete(self._connect())
            self._local.loop, self._local.client = loop, client
            with self._lock:
                self._opened.append((loop, client))
        return self._local.loop.run_until_complete(fn(self._local.client))

    def call(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``fn(client)`` on a native thread's loop; the calling greenlet yields meanwhile."""
        return self.pool.spawn(self._in_thread, fn).get()

    def close(self) -> None:
        """Close every connection on its own (idle) loop."""
        with self._lock:
            opened, self._opened = self._opened, []
        for loop, client in opened:
            # The sockets belong to the native thread that made them (and its gevent hub): closing
            # them from here may find that hub gone; the connection is closed either way.
            loop.set_exception_handler(lambda *_: None)
            try:
                loop.run_until_complete(self._close(client))
                loop.close()
            except (ValueError, RuntimeError):
                pass
