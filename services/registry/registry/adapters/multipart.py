"""An upload sent as an HTML form (``multipart/form-data``, what ``curl -F file=@list.xlsx`` and browsers send), read
as a stream: the ``file`` field's bytes go on to the spool as they arrive, never whole in memory.

Why not starlette's form parser: it needs python-multipart (not a dependency of the suite) and writes every file to
a temporary file of its own before the route sees it — the whole upload once more on disk, and beyond the import's
size limit before that limit could say no. Here the parts before ``file`` (other fields) are read and skipped, each
at most :data:`FIELD_MAX_BYTES`; the ``file`` part's headers give its file name and content type; its body is what
:meth:`FormUpload.file_bytes` yields, up to the closing boundary; whatever follows it is not read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import Message

from registry.domain.errors import MalformedUploadError

FILE_FIELD = "file"
HEADERS_MAX_BYTES = 16 * 1024  # a part's headers
FIELD_MAX_BYTES = 64 * 1024  # a field before the file (its value is not used)
FILENAME_MAX = 255


def is_form_upload(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "multipart/form-data"


class FormUpload:
    """``await FormUpload(body, content_type).open()`` reads up to the ``file`` field's body; then ``filename``,
    ``content_type`` and :meth:`file_bytes` are its."""

    def __init__(self, body: AsyncIterator[bytes], content_type: str) -> None:
        boundary = _param(content_type, "content-type", "boundary")
        if not boundary or len(boundary) > 200:
            raise MalformedUploadError(reason="表单上传（multipart/form-data）缺少 boundary 参数")
        self._body = aiter(body)
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._buffer = bytearray(b"\r\n")  # so that the first delimiter reads like every later one
        self._ended = False
        self.filename: str | None = None
        self.content_type: str | None = None

    async def open(self) -> FormUpload:
        """Reads parts until the ``file`` field's headers (the parts before it are skipped)."""
        await self._skip_to_delimiter(FIELD_MAX_BYTES)  # the preamble
        while True:
            headers = await self._part_headers()
            if headers is None:
                raise MalformedUploadError(reason=f"表单上传中没有名为“{FILE_FIELD}”的文件字段"
                                                  f"（如 curl -F {FILE_FIELD}=@事项清单.xlsx）")
            disposition = headers.get("content-disposition", "")
            if _param(disposition, "content-disposition", "name") == FILE_FIELD:
                self.filename = _filename(disposition)
                self.content_type = headers.get("content-type")
                return self
            await self._skip_to_delimiter(FIELD_MAX_BYTES)

    async def file_bytes(self) -> AsyncIterator[bytes]:
        """The ``file`` field's bytes, as they arrive (everything but a possible start of the delimiter)."""
        keep = len(self._delimiter) - 1
        while True:
            at = self._buffer.find(self._delimiter)
            if at >= 0:
                if at:
                    yield bytes(self._buffer[:at])
                return
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                yield bytes(self._buffer[:cut])
                del self._buffer[:cut]
            if not await self._more():
                raise MalformedUploadError(reason="表单上传不完整：文件字段没有结束边界（上传被中断？）")

    async def _more(self) -> bool:
        while not self._ended:
            piece = await anext(self._body, None)
            if piece is None:
                self._ended = True
            elif piece:
                self._buffer += piece
                return True
        return False

    async def _skip_to_delimiter(self, limit: int) -> None:
        """Drops everything up to and including the next delimiter (at most ``limit`` bytes before it)."""
        while (at := self._buffer.find(self._delimiter)) < 0:
            if len(self._buffer) > limit + len(self._delimiter):
                raise MalformedUploadError(reason=f"表单上传中“{FILE_FIELD}”之前的字段过长")
            if not await self._more():
                raise MalformedUploadError(reason="表单上传（multipart/form-data）格式不正确：找不到分隔边界")
        del self._buffer[:at + len(self._delimiter)]

    async def _part_headers(self) -> dict[str, str] | None:
        """The next part's headers after a delimiter; None after the closing one (``--``)."""
        while len(self._buffer) < 2 and await self._more():
            pass
        if self._buffer[:2] == b"--":
            return None
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > HEADERS_MAX_BYTES:
                raise MalformedUploadError(reason="表单上传中字段的头部过长")
            if not await self._more():
                raise MalformedUploadError(reason="表单上传不完整：字段头部没有结束（上传被中断？）")
        raw = bytes(self._buffer[:end])
        del self._buffer[:end + 4]
        headers: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon:
                # Browsers send a UTF-8 file name as it is (RFC 7578 §4.2), curl too; latin-1 never fails to decode.
                headers[name.strip().lower().decode("latin-1")] = _utf8(value.strip())
        return headers


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _param(header: str, name: str, param: str) -> str | None:
    message = Message()
    message[name] = header
    value = message.get_param(param, header=name)
    if isinstance(value, tuple):  # an RFC 2231 value: (charset, language, text)
        return value[2]
    return value


def _filename(disposition: str) -> str | None:
    message = Message()
    message["content-disposition"] = disposition
    name = message.get_filename()
    if name is None:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # some browsers send the whole path
    if len(name) > FILENAME_MAX or not name.isprintable():
        raise MalformedUploadError(reason=f"文件名不能超过 {FILENAME_MAX} 个字符，也不能含控制字符")
    return name or None
