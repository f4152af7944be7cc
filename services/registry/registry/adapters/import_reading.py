"""Reading and validating an import file in a worker process (I/O around the pure element rules).

Why a process and not a thread: reading a row and checking its elements is ≈75–120 µs of pure Python per row
(ndjson–csv). In a thread it holds the GIL against the event loop that writes the previous chunk, so the two never
overlap and every database round trip of the writer waits for the reader's time slice; a 50,000-row list imported
at under 2,000 rows/s that way. A *spawned* process (never forked: the service runs threads and an event loop)
reads the spooled file and hands validated chunks back through a queue two chunks deep, so memory stays flat
whatever the file size, and the event loop only decides and writes. The process lives as long as its job (starting
it costs ≈0.3 s of CPU).

A small text file (csv or ndjson up to ``INLINE_MAX_BYTES``) is read in a thread of the service instead
(:class:`InlineFile`, same interface): its few hundred rows take tens of milliseconds, far less than starting a
process, which cost the registry ≈3 ms of CPU per item when lists of 100 arrive every second (`bench.e2e_publish_to_
feed`'s flow). Text cannot expand beyond its size, so reading it whole is as bounded as the upload; an xlsx (a zip:
it may, and its reader may abort the process on a crafted file) is always read in a process.

What crosses the queue: a :class:`FileHead` first (columns understood, rows expected), then chunk after chunk, then
``None``; or a :class:`ReadFailure` when the file cannot be read at all (or the reader broke). In a chunk, each valid
row's elements travel as their canonical JSON (orjson, keys sorted), not as pickled objects: pickling a thousand
nested element sets cost both processes ≈25 µs per row each way, and the job embeds those bytes in the row's event
as they are (``store.drafted(elements_json=…)``) rather than serialising the elements once more."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from shared import jsoncodec
from shared.auth import Principal
from shared.dictionaries import Dictionaries
from shared.process import tune_garbage_collector

from registry.adapters.spreadsheets.reading import XLSX, open_rows
from registry.adapters.spreadsheets.rows import SourceRow
from registry.domain.elements import missing_for_submission, validate_elements
from registry.domain.errors import ImportFileError
from registry.domain.problems import Problem

# The reader only has to stay ahead of the writer, and it usually is (it waits on the full queue): at a lower
# priority it leaves the cores to the job and PostgreSQL, whose turns are what an import waits for (measured: ≈5 %
# more rows/s on two cores), and on a busy server to the service's requests.
READER_NICENESS = 10
QUEUE_DEPTH = 2  # chunks read ahead of the writer: enough to overlap, little enough to keep memory flat
INLINE_MAX_BYTES = 512 * 1024  # a csv/ndjson file up to this size is read in a thread, not a process (see above)


@dataclass
class PreparedRow:
    """A row after reading and element validation."""

    row: int
    source_ref: str | None
    elements: dict[str, Any]
    problems: list[Problem]
    missing: list[str] | None = None  # missing_for_submission(elements), once they are valid
    elements_json: bytes | None = None  # their canonical JSON, once they are valid (the event embeds it as it is)


@dataclass
class Chunk:
    rows: list[PreparedRow]
    progress: float  # 0..1 of the file read so far


@dataclass(frozen=True)
class FileHead:
    tabular: bool  # problems are reported by column (xlsx, csv) or by field path (ndjson)
    total_rows: int | None  # known up front for xlsx
    problems: list[Problem]  # about the header row (unknown columns)


@dataclass(frozen=True)
class ReadFailure:
    file_error: dict[str, Any] | None  # the context of an ImportFileError: the file itself is unreadable
    crash: str | None = None  # anything else: a bug, reported on the job
    error_type: type[ImportFileError] = ImportFileError  # which ImportFileError (its code differs)


def prepare_row(source: SourceRow, dictionaries: Dictionaries, principal: Principal, today: date,
                seen: set[tuple[str, str]]) -> PreparedRow:
    """The rules one row must meet on its own (and against the rows above it: ``seen`` 来源编号 per region)."""
    problems = list(source.problems)
    if not source.elements and problems:
        return PreparedRow(source.row, source.source_ref, {}, problems)
    elements, element_problems = validate_elements(source.elements, dictionaries, today)
    problems += element_problems
    if source.source_ref is None:
        problems.append(Problem("source_ref", "SOURCE_REF_REQUIRED",
                                "请填写来源编号：再次导入时据此识别同一事项，避免重复创建"))
    elif len(source.source_ref) > 100:
        problems.append(Problem("source_ref", "TOO_LONG", "来源编号不能超过 100 个字符"))
    region = elements.get("region_code")
    if region and not principal.may_access_region(region):
        problems.append(Problem("region_code", "REGION_FORBIDDEN", f"区划“{region}”不在当前用户的管辖区划内"))
    if source.source_ref and region:
        key = (region, source.source_ref)
        if key in seen:
            problems.append(Problem("source_ref", "SOURCE_REF_REPEATED",
                                    f"来源编号“{source.source_ref}”在本文件中已出现过（同一区划内应唯一）"))
        seen.add(key)
    if problems:
        return PreparedRow(source.row, source.source_ref, elements, problems)
    return PreparedRow(source.row, source.source_ref, elements, problems, missing_for_submission(elements),
                       jsoncodec.canonical_bytes(elements))


def read_chunks(path: Path, fmt: str, dictionaries: Dictionaries, principal: Principal, today: date,
                chunk_size: int) -> Iterator[FileHead | Chunk]:
    """The file as a head and chunks of prepared rows (raises ImportFileError if it cannot be read at all)."""
    reader = open_rows(path, fmt, dictionaries)
    try:
        yield FileHead(reader.tabular, reader.total_rows, list(reader.header_problems))
        seen: set[tuple[str, str]] = set()
        prepared: list[PreparedRow] = []
        for source in reader:
            prepared.append(prepare_row(source, dictionaries, principal, today, seen))
            if len(prepared) >= chunk_size:
                yield Chunk(prepared, reader.progress())
                prepared = []
        if prepared:
            yield Chunk(prepared, reader.progress())
    finally:
        if reader.close:
            reader.close()


def encode_chunk(chunk: Chunk) -> bytes:
    # A valid row's elements travel as their canonical JSON only (the job parses it and embeds it in the event);
    # an invalid row's only as its problems. Pickle carries those bytes as they are.
    return pickle.dumps((chunk.progress, [
        (r.row, r.source_ref, r.elements_json, [(p.field, p.code, p.message) for p in r.problems], r.missing)
        for r in chunk.rows]), protocol=pickle.HIGHEST_PROTOCOL)


def decode_chunk(data: bytes) -> Chunk:
    progress, rows = pickle.loads(data)  # noqa: S301 - from the reader process this job started
    return Chunk([PreparedRow(row, source_ref, {} if encoded is None else jsoncodec.loads(encoded),
                              [Problem(*p) for p in problems], missing, encoded)
                  for row, source_ref, encoded, problems, missing in rows], progress)


def _work(out: Any, path: Path, fmt: str, dictionaries: Dictionaries, principal: Principal, today: date,
          chunk_size: int) -> None:
    """The worker process's body: everything it has to say goes through ``out``."""
    tune_garbage_collector()
    with contextlib.suppress(OSError):
        os.nice(READER_NICENESS)
    try:
        for message in read_chunks(path, fmt, dictionaries, principal, today, chunk_size):
            out.put(encode_chunk(message) if isinstance(message, Chunk) else message)
        out.put(None)
    except ImportFileError as exc:
        out.put(ReadFailure(file_error=dict(exc.context), error_type=type(exc)))
    except Exception as exc:  # noqa: BLE001 - reported on the job by the parent
        out.put(ReadFailure(file_error=None, crash=f"{type(exc).__name__}: {exc}"))


class PreparedFile:
    """The parent's end: ``await head()``, then ``await next_chunk()`` until it returns None; ``close()`` always."""

    def __init__(self, path: Path, fmt: str, dictionaries: Dictionaries, principal: Principal, today: date,
                 chunk_size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue(maxsize=QUEUE_DEPTH)
        self._process = context.Process(target=_work, name="registry-import-reader", daemon=True,
                                        args=(self._queue, path, fmt, dictionaries, principal, today, chunk_size))
        self._finished = False

    def start(self) -> PreparedFile:
        self._process.start()
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def head(self) -> FileHead:
        message = await self._next()
        if not isinstance(message, FileHead):
            raise RuntimeError(f"import reader sent {type(message).__name__} before the file head")
        return message

    async def next_chunk(self) -> Chunk | None:
        if self._finished:
            return None
        message = await self._next()
        if message is None:
            self._finished = True
            return None
        if not isinstance(message, Chunk):
            raise RuntimeError(f"import reader sent {type(message).__name__} where a chunk was expected")
        return message

    async def _next(self) -> FileHead | Chunk | None:
        message = await asyncio.to_thread(self._receive)
        if isinstance(message, ReadFailure):
            self._finished = True
            if message.file_error is not None:
                raise message.error_type(**message.file_error)
            raise RuntimeError(f"导入文件读取进程出错：{message.crash}")
        return message

    def _receive(self) -> FileHead | Chunk | ReadFailure | None:
        """The next message, a chunk decoded (off the event loop's thread)."""
        message = self._get()
        return decode_chunk(message) if isinstance(message, bytes) else message

    def _get(self) -> Any:
        """Blocking get that notices a reader process that died without a word (killed, out of memory)."""
        while True:
            try:
                return self._queue.get(timeout=0.5)
            except queue.Empty:
                if not self._process.is_alive():
                    try:
                        return self._queue.get(timeout=0.5)  # its last words may still be in the pipe
                    except queue.Empty:
                        raise RuntimeError(f"导入文件读取进程意外退出（退出码 {self._process.exitcode}）") from None

    def close(self) -> None:
        """Stop the reader (done, failed or cancelled) and release the queue."""
        if self._process.is_alive():
            self._process.terminate()
        if self._process.pid is not None:
            self._process.join(timeout=5)
        self._queue.close()
        self._queue.cancel_join_thread()


class InlineFile:
    """A small text file read whole in a worker thread of the service: :class:`PreparedFile`'s interface without a
    process (see the module's docstring)."""

    def __init__(self, path: Path, fmt: str, dictionaries: Dictionaries, principal: Principal, today: date,
                 chunk_size: int) -> None:
        # Chunks cross the same encoding as a process's (≈25 µs a row): the job gets exactly what a process sends.
        self._read = lambda: [decode_chunk(encode_chunk(m)) if isinstance(m, Chunk) else m
                              for m in read_chunks(path, fmt, dictionaries, principal, today, chunk_size)]
        self._messages: list[FileHead | Chunk] | None = None
        self.pid: int | None = None  # no process of its own

    def start(self) -> InlineFile:
        return self

    async def head(self) -> FileHead:
        self._messages = await asyncio.to_thread(self._read)  # ImportFileError goes to the job as from a process
        message = self._messages.pop(0)
        assert isinstance(message, FileHead)  # read_chunks yields its head first
        return message

    async def next_chunk(self) -> Chunk | None:
        if not self._messages:
            return None
        message = self._messages.pop(0)
        assert isinstance(message, Chunk)
        return message

    def close(self) -> None:
        self._messages = None


def open_prepared(path: Path, fmt: str, dictionaries: Dictionaries, principal: Principal, today: date,
                  chunk_size: int) -> PreparedFile | InlineFile:
    """The reader of an import file, started: in a thread when the file is small text, else in a process."""
    if fmt != XLSX and path.stat().st_size <= INLINE_MAX_BYTES:
        return InlineFile(path, fmt, dictionaries, principal, today, chunk_size).start()
    return PreparedFile(path, fmt, dictionaries, principal, today, chunk_size).start()
