"""The server's way into the warehouse: opened per request (so `revlens import` in a terminal
can write between requests), read-only for queries, with one writer at a time in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from revlens.model.warehouse import Warehouse


class WarehouseAccess:
    """Readers share; a writer waits for them and keeps them out. DuckDB refuses a
    read-write and a read-only connection to one file in the same process at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[Warehouse]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            with Warehouse.open(self.path, read_only=True) as wh:
                yield wh
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[Warehouse]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            with Warehouse.open(self.path) as wh:
                yield wh
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
