"""Reading many records from Prefect's API in pages the server accepts.

Prefect's server refuses any `read_*`/`filter` request whose `limit` exceeds
`PREFECT_SERVER_API_DEFAULT_LIMIT` (200 unless an operator lowered it), answering 422 after
the run's work is done. A run of 300 sources has 1,200 task runs: every read of "all of them"
goes through here, in chunks of ids or pages of offsets no larger than the server allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

# The server's default limit; a lower one configured for this client is honoured too.
SERVER_LIMIT = 200


def page_size() -> int:
    """The largest `limit` the server accepts, as far as this process can know it."""
    try:
        from prefect.settings import get_current_settings

        configured = get_current_settings().server.api.default_limit
    except Exception:  # an older Prefect without the nested setting
        return SERVER_LIMIT
    return max(1, min(SERVER_LIMIT, int(configured)))


def chunks(items: Sequence[I], size: int) -> Iterator[Sequence[I]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_by_ids(ids: Sequence[I], read: Callable[[list[I], int], list[T]]) -> list[T]:
    """`read(chunk, limit)` for each chunk of at most one page of ids; results concatenated."""
    size = page_size()
    found: list[T] = []
    for chunk in chunks(ids, size):
        found += read(list(chunk), size)
    return found


def read_all(read: Callable[[int, int], list[T]]) -> list[T]:
    """`read(offset, limit)` page after page until a short page: every record, never one call
    for "all of them"."""
    size = page_size()
    found: list[T] = []
    while True:
        page = read(len(found), size)
        found += page
        if len(page) < size:
            return found
