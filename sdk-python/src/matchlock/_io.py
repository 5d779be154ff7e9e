"""Where exec output goes and where exec input comes from.

Output writers may be a callable taking ``bytes``, a binary stream, or a text stream (bytes
are decoded incrementally, so a UTF-8 character split across two chunks stays intact).
Input sources may be ``bytes``/``str``, a binary or text stream, or an iterable of chunks.
"""

from __future__ import annotations

import codecs
import io
from typing import IO, Any, Callable, Iterable, Iterator, Optional, Union

CHUNK_SIZE = 4096

OutputTarget = Union[Callable[[bytes], Any], IO[bytes], IO[str], None]
InputSource = Union[bytes, bytearray, str, IO[bytes], IO[str], Iterable[Union[bytes, str]], None]


def _is_binary_stream(target: Any) -> bool:
    if isinstance(target, (io.RawIOBase, io.BufferedIOBase)):
        return True
    if isinstance(target, io.TextIOBase):
        return False
    return "b" in str(getattr(target, "mode", ""))


class OutputSink:
    """Adapts an :data:`OutputTarget`; ``buffer`` collects bytes when there is no target."""

    def __init__(self, target: OutputTarget, buffer_when_absent: bool = False) -> None:
        self._target: Any = target  # a callable, a binary stream or a text stream
        self.buffer: Optional[bytearray] = bytearray() if target is None and buffer_when_absent else None
        self._decoder: Optional[codecs.IncrementalDecoder] = None
        self._binary = False
        if target is not None and hasattr(target, "write"):
            self._binary = _is_binary_stream(target)
            if not self._binary:
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> None:
        target = self._target
        if target is None:
            if self.buffer is not None:
                self.buffer += data
            return
        if self._decoder is not None:
            text = self._decoder.decode(data)
            if text:
                target.write(text)
                _flush(target)
        elif self._binary:
            target.write(data)
            _flush(target)
        else:
            target(data)

    def finish(self) -> None:
        """Flush a text writer's decoder (a dangling partial character becomes U+FFFD)."""
        if self._decoder is not None and self._target is not None:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                self._target.write(tail)
                _flush(self._target)


def _flush(target: Any) -> None:
    flush = getattr(target, "flush", None)
    if callable(flush):
        flush()


def _encode(chunk: Union[bytes, bytearray, str]) -> bytes:
    return chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)


def iter_input(source: InputSource) -> Iterator[bytes]:
    """Chunks (at most CHUNK_SIZE bytes each for buffers and streams) of ``source``."""
    if source is None:
        return
    if isinstance(source, (bytes, bytearray, str)):
        data = _encode(source)
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]
        return
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            chunk = read(CHUNK_SIZE)
            if not chunk:
                return
            yield _encode(chunk)
    for item in source:
        data = _encode(item)
        if data:
            yield data
