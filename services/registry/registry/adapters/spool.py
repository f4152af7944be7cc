"""The spool directory of imports (I/O): an upload waits there while it is imported, and the copies of its xlsx parts
are made beside it (``<upload>.part-….xlsx``).

A process killed mid-import cannot remove what it spooled — up to the upload limit per file — so every file carries
the owner token of the registry process that spooled it, and that process holds the token's lock file (``flock``)
for as long as it lives. What a stopped process left behind is told from what a live one still reads by whether its
lock can be taken: pids would not do, since a restarted container's process gets the same pid as the one before it
while the volume keeps the files."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

PREFIX = "registry-import-"
_OWNED = re.compile(re.escape(PREFIX) + r"([0-9a-f]{32})[-.]")
_LOCK_SUFFIX = ".lock"
_TAKING = f".{PREFIX}lock-"  # a lock file being taken (see Spool.open)
UNLOCKED_AGE = timedelta(hours=1)  # files of an owner without a lock file are removed once this old


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def part_copy(upload: Path) -> tuple[int, str]:
    """A new file for a copy of one of ``upload``'s xlsx parts, beside it: (descriptor, name)."""
    return tempfile.mkstemp(prefix=f"{upload.name}.part-", suffix=".xlsx", dir=upload.parent)


def remove_part_copies(upload: Path) -> None:
    """What a reader process stopped mid-part (the job failed or was cancelled) could not remove itself."""
    for copy in upload.parent.glob(f"{glob_escape(upload.name)}.part-*"):
        remove_quietly(copy)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class Spool:
    """This process's place in the spool directory (the temp directory by default)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else Path(tempfile.gettempdir())
        self.token = uuid.uuid4().hex
        self._lock: int | None = None
        self._opening = threading.Lock()  # uploads may spool from several threads at once

    def open(self) -> None:
        """Creates the directory and takes this process's lock (once). The lock file is locked under a temporary
        name and only then given its own, so that another process clearing the directory never takes a lock that
        is about to be held for its token."""
        with self._opening:
            if self._lock is not None:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, taking = tempfile.mkstemp(prefix=_TAKING, dir=self.directory)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(taking, self.directory / f"{PREFIX}{self.token}{_LOCK_SUFFIX}")
            except BaseException:
                os.close(handle)
                remove_quietly(Path(taking))
                raise
            self._lock = handle

    def new_upload(self) -> tuple[IO[bytes], Path]:
        """A new file for an upload, owned by this process."""
        self.open()
        # Not a with-block: the open file is handed to the caller, who writes the upload into it and closes it.
        handle = tempfile.NamedTemporaryFile(prefix=f"{PREFIX}{self.token}-", dir=self.directory,  # noqa: SIM115
                                             delete=False)
        return handle, Path(handle.name)

    def remove_orphans(self) -> list[Path]:
        """Removes the files of every owner that no longer holds its lock — a stopped process — with its lock file,
        and returns them. Files whose owner has no lock file at all (something cleaned the directory) are removed
        once they are :data:`UNLOCKED_AGE` old: a live owner could have lost its lock file that way."""
        owners: dict[str, list[Path]] = {}
        removed: list[Path] = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                found = _OWNED.match(entry.name)
                if found is not None and entry.is_file(follow_symlinks=False):
                    owners.setdefault(found[1], []).append(Path(entry.path))
                elif (entry.name.startswith(_TAKING) and _age_seconds(Path(entry.path)) > UNLOCKED_AGE.total_seconds()
                      and _removed(Path(entry.path))):  # a process stopped while it was taking its lock
                    removed.append(Path(entry.path))
        for token, paths in owners.items():
            lock_path = self.directory / f"{PREFIX}{token}{_LOCK_SUFFIX}"
            with self._taken(lock_path) as stopped:
                if stopped is None:
                    files = [p for p in paths if _age_seconds(p) > UNLOCKED_AGE.total_seconds()]
                elif stopped:
                    files = [p for p in paths if p != lock_path]
                else:
                    continue
                removed += [path for path in files if _removed(path)]
                if stopped:
                    _removed(lock_path)  # still locked by us: no owner can take it meanwhile
        return removed

    @contextlib.contextmanager
    def _taken(self, lock_path: Path) -> Iterator[bool | None]:
        """Whether ``lock_path``'s owner has stopped: True if its lock could be taken (held for the block), False
        if it is held, None if there is no lock file."""
        try:
            handle = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            yield None
            return
        except PermissionError:  # another user's registry, in a shared temp directory: not ours to judge
            yield False
            return
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: the owner lives (this process included: its lock is another open file)
                yield False
                return
            yield True
        finally:
            os.close(handle)

    def close(self) -> None:
        """Gives the lock up (on shutdown, once every job has ended). The lock file goes too unless files of this
        process are left: those, with it, are the next sweep's to remove."""
        if self._lock is None:
            return
        own = f"{PREFIX}{self.token}-"
        with os.scandir(self.directory) as entries:
            if not any(entry.name.startswith(own) for entry in entries):
                remove_quietly(self.directory / f"{PREFIX}{self.token}{_LOCK_SUFFIX}")  # still held: safe
        os.close(self._lock)
        self._lock = None


def _removed(path: Path) -> bool:
    """Removes ``path`` if it can: another user's file in a shared temp directory cannot be, and is left."""
    try:
        os.unlink(path)
    except (FileNotFoundError, PermissionError):
        return False
    return True


def _age_seconds(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
