"""Where photos come from and where their records go: the input listing and the resumable output file.

The output is an append-only JSON Lines file. Each line carries the photo's `content_hash`, and all lines of
one photo go down in a single write, so after a kill (even `kill -9`) the file holds whole photos only; the
next run skips every (id, content hash) it already holds and appends the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlens.data.readers import folder, manifest
from fashionlens.jsonl import read_jsonl


@dataclass(frozen=True)
class Source:
    """One photo to label: `path` is where to read it, `image` how records name it (relative to SOURCE)."""

    id: str
    path: Path
    image: str


def list_sources(source: Path) -> list[Source]:
    """The photos of a folder (recursively; id = path without suffix) or of a JSONL manifest (`id`, `image`).

    A manifest may list a photo once per garment (like labels.jsonl): each (id, image) is kept once.
    Raises FileNotFoundError or ValueError (naming the bad manifest line) for an unusable SOURCE.
    """
    if source.is_dir():
        listed = [Source(s.id, s.image, s.image.relative_to(source).as_posix()) for s in folder.read(source)]
    elif source.is_file():
        base = source.parent
        listed = [
            Source(
                s.id,
                s.image,
                s.image.relative_to(base).as_posix() if s.image.is_relative_to(base) else str(s.image),
            )
            for s in manifest.read(source)
        ]
    else:
        raise FileNotFoundError(f"no such folder or manifest: {source}")
    return list({(s.id, s.image): s for s in listed}.values())


def _drop_partial_line(path: Path) -> None:
    """Cut an unfinished last line (a write cut short by a crash) so appended records start on a new line."""
    with path.open("rb+") as file:
        end = file.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - (1 << 16))
            file.seek(start)
            chunk = file.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            position = start
        else:
            cut = 0
        if cut < end:
            file.truncate(cut)


def read_done(output: Path) -> set[tuple[str, str | None]]:
    """The (id, content_hash) pairs the output already holds (records and failure lines alike).

    An unfinished last line is removed first. Raises JsonlError for a damaged line elsewhere.
    """
    if not output.is_file():
        return set()
    _drop_partial_line(output)
    return {
        (record["id"], record["content_hash"]) for record in read_jsonl(output) if "content_hash" in record
    }


class RecordLog:
    """The append-only output; `write` puts all lines of one photo down in one unbuffered write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=0)

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        data = memoryview("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
        while data:
            data = data[self._file.write(data) :]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
