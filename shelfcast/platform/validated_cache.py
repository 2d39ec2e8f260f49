"""Frames this process has validated, by the version of the object they came from or went to.

Validation on read stays: every object a step receives was checked against its contract after
it was read, or is the very frame that was checked before this process wrote that version of
it. What this saves is checking the *same version* of an object twice in one process: in an
in-process run the three window steps read the same 24 months of sales, consecutive
partitions run by one worker share 22 of them, and the partition run after a history load
needs the 23 months the load just validated and wrote (the IO manager keeps what it writes for
a contract read in windows). A version is what the store says identifies the bytes: size,
modification time (ns) and inode of a local file, the ETag (or VersionId) of an object; any
change, by this process or another, is a new version that is read and validated
afresh. A store that cannot say (an error asking) is not cached. The cache holds at most
``SHELFCAST_VALIDATED_CACHE_MB`` (2048 by default, which a 24-month window of 20,000 products
fits; 0 turns it off), least recently used first out. Steps get the cached frames themselves
and never modify them. The frames of a window are views of one frame (:class:`WindowFrames`):
the cache keeps that frame alive until a newer window's views replace its entries, and keeps
the latest window whole, so the second and third window steps of a run get views of the
window the first read (no copy, no second validation).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import pandas as pd
from upath import UPath

from shelfcast.platform.storage import is_local


class WindowFrames(dict):
    """``{partition key: frame}`` of a window, each frame a view of consecutive rows of one
    validated ``frame`` (the partitions in time order).

    A step that wants the whole window, or its latest partitions, takes :meth:`rows` of them: a
    view, not a concatenated copy, so a step holds one copy of its window. Frames taken one by
    one are the same views; nothing may modify them (they are cached too).
    """

    def __init__(self, frame: pd.DataFrame, bounds: dict[str, tuple[int, int]]):
        super().__init__({key: view(frame, start, end) for key, (start, end) in bounds.items()})
        self.frame = frame
        self.bounds = bounds

    def rows(self, keys: list[str]) -> pd.DataFrame | None:
        """The rows of ``keys`` (in the frame's order) as one view; None if not consecutive."""
        spans = [self.bounds[key] for key in keys]
        if any(a[1] != b[0] for a, b in zip(spans, spans[1:], strict=False)):
            return None
        return view(self.frame, spans[0][0], spans[-1][1])


def view(frame: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    """Rows ``start:end`` of ``frame`` with a fresh 0-based index, sharing its memory."""
    return frame.iloc[start:end].set_axis(pd.RangeIndex(end - start), axis=0, copy=False)


class ValidatedFrames:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[tuple, tuple[pd.DataFrame, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # The latest window: (contract, {(path, version): its key in the window}, the window).
        self._window: tuple | None = None

    @staticmethod
    def version_of(path: UPath) -> str | None:
        """The object's version, or None when it does not exist or the store cannot say."""
        try:
            if is_local(path):
                stat = os.stat(path.path)
                return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
            info = path.fs.info(path.path)
        except (OSError, ValueError):
            return None
        for key in ("VersionId", "ETag", "etag", "md5Hash"):
            if info.get(key):
                return f"{key}:{info[key]}:{info.get('size')}"
        return None

    def get(self, path: UPath, version: str | None, contract) -> pd.DataFrame | None:
        if version is None or contract is None or self.max_bytes <= 0:
            return None
        key = (str(path), version, contract)
        with self._lock:
            entry = self._frames.get(key)
            if entry is None:
                return None
            self._frames.move_to_end(key)
            return entry[0]

    def put(self, path: UPath, version: str | None, contract, frame: pd.DataFrame) -> None:
        if version is None or contract is None or self.max_bytes <= 0:
            return
        size = int(frame.memory_usage(deep=False).sum())
        if size > self.max_bytes:
            return
        key = (str(path), version, contract)
        with self._lock:
            for stale in [k for k in self._frames if k[0] == key[0] and k != key]:
                self._bytes -= self._frames.pop(stale)[1]  # an older version of the object
            if key in self._frames:  # the same rows, now a view of a newer window
                self._bytes -= self._frames.pop(key)[1]
            self._frames[key] = (frame, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, freed) = self._frames.popitem(last=False)
                self._bytes -= freed

    def window(self, paths: dict, versions: dict, contract) -> WindowFrames | None:
        """The latest window put, as views of the partitions ``paths`` names, if it holds every
        one of them at the version asked (a later step of the run asks for the same months)."""
        if self.max_bytes <= 0 or contract is None or any(v is None for v in versions.values()):
            return None
        with self._lock:
            entry = self._window
        if entry is None or entry[0] is not contract:
            return None
        _, keys, window = entry
        found = [keys.get((str(paths[key]), versions[key])) for key in paths]
        if None in found:
            return None
        bounds = {key: window.bounds[w] for key, w in zip(paths, found, strict=True)}
        return WindowFrames(window.frame, bounds)

    def put_window(self, paths: dict, versions: dict, contract, window: WindowFrames) -> None:
        """Keep ``window`` (one at a time) for the next step that asks for its partitions."""
        if self.max_bytes <= 0 or contract is None or any(v is None for v in versions.values()):
            return
        if int(window.frame.memory_usage(deep=False).sum()) > self.max_bytes:
            return
        keys = {(str(paths[key]), versions[key]): key for key in window}
        with self._lock:
            self._window = (contract, keys, window)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
            self._window = None


VALIDATED = ValidatedFrames(int(os.environ.get("SHELFCAST_VALIDATED_CACHE_MB", "2048")) * 2**20)
