"""A page of a listing, newest first, with an opaque cursor to the next (replicate's ``Page`` shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

__all__ = ["Page", "paginate"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[T]
    next_cursor: str | None = None
    """Opaque; None on the last page."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def paginate(list_method: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
    """Every item of every page: ``for record in paginate(store.list_jobs, owner): ...``."""
    cursor = None
    while True:
        page = list_method(*args, cursor=cursor, **kwargs)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
