"""The PLY container, shared by 3DGS PLY and PlayCanvas compressed PLY: header and element tables.

Follows the PLY format as Greg Turk described it (paulbourke.net/dataformats/ply): a text header
(``ply``, ``format``, ``comment``/``obj_info``, ``element NAME COUNT``, ``property TYPE NAME``,
``property list COUNT_TYPE ITEM_TYPE NAME``, ``end_header``), then the elements in declaration
order, in ASCII or in binary little- or big-endian. ``half`` (float16) is accepted as well, as
some exporters write it. Every count is checked against the bytes that follow before anything is
allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from continuum.splats.formats._io import format_error

MAX_HEADER_BYTES = 1 << 20
_MAX_DIGITS = 18  # counts below 10^18; longer digit strings are refused before int()
FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "half": "f2",
    "float16": "f2",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


@dataclass(frozen=True)
class PlyProperty:
    """One property: a scalar (``count_type`` None) or a list with a count before its items."""

    name: str
    type: str  # numpy type code without byte order, e.g. "f4"
    count_type: str | None = None


@dataclass(frozen=True)
class PlyElement:
    """One element: ``count`` rows of its properties."""

    name: str
    count: int
    properties: tuple[PlyProperty, ...]

    def has_lists(self) -> bool:
        return any(p.count_type is not None for p in self.properties)

    def property_names(self) -> list[str]:
        return [p.name for p in self.properties]


@dataclass(frozen=True)
class PlyHeader:
    """A parsed header; ``body_offset`` is where the first element's data starts."""

    format: str  # "ascii", "binary_little_endian" or "binary_big_endian"
    elements: tuple[PlyElement, ...]
    body_offset: int

    def element(self, name: str) -> PlyElement | None:
        return next((e for e in self.elements if e.name == name), None)

    def row_dtype(self, element: PlyElement) -> np.dtype:
        """The structured numpy dtype of one row of a list-free element, in file byte order."""
        order = FORMATS[self.format] or "<"
        return np.dtype(
            {
                "names": element.property_names(),
                "formats": [order + p.type for p in element.properties],
            }
        )


def parse_header(data: bytes, path: object) -> PlyHeader:
    """Parse the header at the start of ``data`` (the whole file or at least its header)."""
    if not data.startswith(b"ply"):
        raise format_error(path, f"not a PLY file: it starts with {data[:8]!r}, expected b'ply'")
    end = data.find(b"\nend_header", 0, MAX_HEADER_BYTES) + 1
    if end == 0:
        raise format_error(path, f"no 'end_header' line in the first {MAX_HEADER_BYTES} bytes")
    newline = data.find(b"\n", end)
    if newline < 0:
        raise format_error(path, "the 'end_header' line has no line end")
    body_offset = newline + 1
    try:
        text = data[:end].decode("ascii")
    except UnicodeDecodeError as e:
        raise format_error(path, f"the header has a non-ASCII byte at offset {e.start}") from None
    lines = [line.strip() for line in text.splitlines()]
    if lines[0] != "ply":
        raise format_error(path, f"the first line is {lines[0]!r}, expected 'ply'")
    fmt = None
    elements: list[PlyElement] = []
    properties: list[PlyProperty] = []
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        where = f"header line {number} ({line!r})"
        if words[0] == "format":
            if len(words) != 3 or words[1] not in FORMATS:
                raise format_error(path, f"{where}: expected 'format <{'|'.join(FORMATS)}> 1.0'")
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit() or len(words[2]) > _MAX_DIGITS:
                raise format_error(path, f"{where}: expected 'element NAME COUNT'")
            if any(e.name == words[1] for e in elements):
                raise format_error(path, f"{where}: element {words[1]!r} is declared twice")
            properties = []
            elements.append(PlyElement(words[1], int(words[2]), ()))
        elif words[0] == "property":
            if not elements:
                raise format_error(path, f"{where}: a property before any element")
            prop = _parse_property(words, where, path)
            if any(p.name == prop.name for p in properties):
                raise format_error(path, f"{where}: property {prop.name!r} is declared twice")
            properties.append(prop)
            last = elements[-1]
            elements[-1] = PlyElement(last.name, last.count, tuple(properties))
        else:
            raise format_error(path, f"{where}: unknown keyword {words[0]!r}")
    if fmt is None:
        raise format_error(path, "the header has no 'format' line")
    return PlyHeader(fmt, tuple(elements), body_offset)


def _parse_property(words: list[str], where: str, path: object) -> PlyProperty:
    if len(words) == 3 and words[1] in TYPES:
        return PlyProperty(words[2], TYPES[words[1]])
    if (
        len(words) == 5
        and words[1] == "list"
        and words[2] in TYPES
        and words[3] in TYPES
        and TYPES[words[2]][0] in "iu"
    ):
        return PlyProperty(words[4], TYPES[words[3]], TYPES[words[2]])
    raise format_error(
        path,
        f"{where}: expected 'property TYPE NAME' or 'property list COUNT_TYPE TYPE NAME' "
        f"with TYPE one of {sorted(set(TYPES))}",
    )


def read_elements(
    data: bytes, header: PlyHeader, wanted: set[str], path: object
) -> dict[str, np.ndarray]:
    """The tables of the ``wanted`` elements (list-free), as structured arrays  # [count]

    Elements before and between them are skipped (lists included); reading stops after the
    last wanted one, so anything after it is never touched.
    """
    tables: dict[str, np.ndarray] = {}
    cursor: _AsciiCursor | _BinaryCursor
    if header.format == "ascii":
        cursor = _AsciiCursor(data, header.body_offset)
    else:
        cursor = _BinaryCursor(data, header.body_offset, FORMATS[header.format])
    for element in header.elements:
        if wanted <= tables.keys():
            break
        if element.name not in wanted:
            cursor.skip(element, path)
            continue
        if element.has_lists() or not element.properties:
            raise format_error(
                path, f"element {element.name!r} must have scalar properties and no lists"
            )
        tables[element.name] = cursor.table(element, header.row_dtype(element), path)
    return tables


class _BinaryCursor:
    def __init__(self, data: bytes, offset: int, order: str) -> None:
        self.data, self.offset, self.order = data, offset, order

    def _left(self) -> int:
        return len(self.data) - self.offset

    def _advance(self, element: PlyElement, row_bytes: int, path: object) -> int:
        """Move past ``count`` rows of ``row_bytes``; return where they start."""
        size = element.count * row_bytes
        if size > self._left():
            raise format_error(
                path,
                f"header promises {element.count} {element.name} rows of {row_bytes} bytes "
                f"({size} bytes) but only {self._left()} bytes follow",
            )
        self.offset += size
        return self.offset - size

    def table(self, element: PlyElement, dtype: np.dtype, path: object) -> np.ndarray:
        start = self._advance(element, dtype.itemsize, path)
        return np.frombuffer(self.data, dtype=dtype, count=element.count, offset=start)

    def skip(self, element: PlyElement, path: object) -> None:
        if not element.has_lists():
            self._advance(element, sum(np.dtype(p.type).itemsize for p in element.properties), path)
            return
        # A row is at least its scalars and its list counts: refuse a count that cannot fit
        # before walking row by row.
        least = sum(np.dtype(p.count_type or p.type).itemsize for p in element.properties)
        if element.count * least > self._left():
            raise format_error(
                path,
                f"header promises {element.count} {element.name} rows of at least {least} bytes "
                f"but only {self._left()} bytes follow",
            )
        counts = [
            struct.Struct(self.order + np.dtype(p.count_type).char) if p.count_type else None
            for p in element.properties
        ]
        sizes = [np.dtype(p.type).itemsize for p in element.properties]
        data, offset, end = self.data, self.offset, len(self.data)
        for _ in range(element.count):
            for count, size in zip(counts, sizes, strict=True):
                if count is None:
                    offset += size
                elif offset + count.size <= end:
                    (n,) = count.unpack_from(data, offset)
                    offset += count.size + max(n, 0) * size
                else:
                    offset = end + 1
                    break
            if offset > end:
                raise format_error(
                    path, f"the {element.name} element runs past the end of the file"
                )
        self.offset = offset


class _AsciiCursor:
    def __init__(self, data: bytes, offset: int) -> None:
        self.tokens = data[offset:].split()
        self.index = 0

    def _left(self) -> int:
        return len(self.tokens) - self.index

    def table(self, element: PlyElement, dtype: np.dtype, path: object) -> np.ndarray:
        width = len(element.properties)
        need = element.count * width
        if need > self._left():
            raise format_error(
                path,
                f"header promises {element.count} {element.name} rows of {width} values "
                f"({need} values) but only {self._left()} values follow",
            )
        words = self.tokens[self.index : self.index + need]
        self.index += need
        try:
            values = np.array(words, dtype=np.bytes_).astype(np.float64).reshape(-1, width)
        except ValueError as e:
            raise format_error(path, f"the {element.name} element has a non-number: {e}") from None
        out = np.empty(element.count, dtype=dtype.newbyteorder("="))
        for j, name in enumerate(dtype.names or ()):
            column, kind = values[:, j], out.dtype[name]
            if kind.kind in "iu":
                info = np.iinfo(kind)
                if not np.all((column == np.round(column)) & (column >= info.min)) or np.any(
                    column > info.max
                ):
                    raise format_error(
                        path, f"{element.name}.{name} must hold integers in the {kind} range"
                    )
            with np.errstate(over="ignore"):  # beyond a half's range is inf, as in binary
                out[name] = column
        return out

    def skip(self, element: PlyElement, path: object) -> None:
        if not element.has_lists():
            need = element.count * len(element.properties)
            if need > self._left():
                raise format_error(
                    path, f"the {element.name} element runs past the end of the file"
                )
            self.index += need
            return
        index, tokens = self.index, self.tokens
        for _ in range(element.count):
            for p in element.properties:
                if index >= len(tokens):
                    raise format_error(
                        path, f"the {element.name} element runs past the end of the file"
                    )
                if p.count_type is None:
                    index += 1
                    continue
                word = tokens[index]
                if not word.isdigit() or len(word) > _MAX_DIGITS:
                    raise format_error(path, f"list count {word!r} in {element.name} is no count")
                index += 1 + int(word)
        if index > len(tokens):
            raise format_error(path, f"the {element.name} element runs past the end of the file")
        self.index = index
