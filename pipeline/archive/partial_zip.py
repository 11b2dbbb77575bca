"""A zip whose end is missing (a partial download), read from its local headers.

A zip's table of contents, the central directory, sits at the very end, so
a download cut short is "not a zip file" to ``zipfile``. Yet every member
that arrived whole is there, behind its own local file header. This walks
those headers from the start and stops at the first member that is cut off.

Why not ``stream-unzip`` (PyPI), which reads zips this way too: it yields
members in one sequential pass and exposes no offsets, while fingerprinting
opens one member by name per file (a batch of a few, on any worker), which
would re-inflate the archive from its start for every member. Here the
local headers become ordinary ``zipfile.ZipInfo`` entries, so
``ZipFile.open`` reads a member as it reads one from a complete zip: the
same CRC check, the same streaming inflate and the same size caps of the
caller (pipeline/media/fingerprint.py), and the same ``ARCHIVE.zip!member``
names, so a later scan of the complete download does not count them twice.
"""
from __future__ import annotations

import os
import struct
import zipfile
import zlib

LOCAL_HEADER = struct.Struct(zipfile.structFileHeader)
LOCAL_SIGNATURE = zipfile.stringFileHeader  # PK\3\4
DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
UTF8_NAME = 0x800
HAS_DESCRIPTOR = 0x08  # sizes and CRC follow the data instead of preceding it
ZIP64_EXTRA = 0x0001
CHUNK = 1 << 20


def starts_like_a_zip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == LOCAL_SIGNATURE
    except OSError:
        return False


class PartialZip(zipfile.ZipFile):
    """``zipfile.ZipFile`` over the members found by their local headers.

    ``complete_bytes`` is where the last complete member ends; the bytes
    after it belong to a member that was cut off (or to a damaged part).
    """

    complete_bytes = 0

    def _RealGetContents(self) -> None:  # noqa: N802 (zipfile's name): the table comes from local headers
        size = os.fstat(self.fp.fileno()).st_size if hasattr(self.fp, "fileno") else self.fp.seek(0, 2)
        infos, self.complete_bytes = local_members(self.fp, size)
        for info in infos:
            self.filelist.append(info)
            self.NameToInfo[info.filename] = info  # a name given twice: the later one, as zipfile does


def local_members(fp, size: int) -> tuple[list[zipfile.ZipInfo], int]:
    """Complete members from the local headers, and the offset where reading stopped."""
    infos: list[zipfile.ZipInfo] = []
    offset = 0
    while offset + LOCAL_HEADER.size <= size:
        fp.seek(offset)
        header = fp.read(LOCAL_HEADER.size)
        if header[:4] != LOCAL_SIGNATURE:
            break  # the central directory's start, or damage: no further member can be found
        (_, version, system, flags, method, dostime, dosdate, crc, csize, usize,
         name_length, extra_length) = LOCAL_HEADER.unpack(header)
        raw_name, extra = fp.read(name_length), fp.read(extra_length)
        if len(raw_name) < name_length or len(extra) < extra_length:
            break
        data = offset + LOCAL_HEADER.size + name_length + extra_length
        if flags & HAS_DESCRIPTOR:
            found = _descriptor_sizes(fp, data, method, _has_zip64(extra))
            if found is None:
                break
            crc, csize, usize, descriptor_length = found
        else:
            csize, usize = _zip64_sizes(extra, csize, usize)
            descriptor_length = 0
        end = data + csize + descriptor_length
        if end > size:
            break  # this member was cut off
        info = zipfile.ZipInfo(raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437"), _dos_time(dosdate, dostime))
        info.header_offset, info.flag_bits, info.compress_type = offset, flags, method
        info.CRC, info.compress_size, info.file_size, info.extra = crc, csize, usize, extra
        info.extract_version, info.create_system = version, system
        infos.append(info)
        offset = end
    return infos, offset


def _dos_time(date: int, time: int) -> tuple[int, int, int, int, int, int]:
    return (max(1980, (date >> 9) + 1980), max(1, (date >> 5) & 0xF), max(1, date & 0x1F),
            time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2)


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == ZIP64_EXTRA:
            return True
        at += 4 + length
    return False


def _zip64_sizes(extra: bytes, csize: int, usize: int) -> tuple[int, int]:
    """Sizes from the zip64 extra field when the header holds 0xFFFFFFFF."""
    if 0xFFFFFFFF not in (csize, usize):
        return csize, usize
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == ZIP64_EXTRA:
            values = list(struct.unpack_from(f"<{min(length, 16) // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        at += 4 + length
    return csize, usize


def _descriptor_sizes(fp, data: int, method: int, zip64: bool) -> tuple[int, int, int, int] | None:
    """(crc, compressed size, size, descriptor length) of a member whose sizes follow its data.

    A deflate stream ends itself, so its length is found by inflating it
    (output discarded, 1 MiB at a time). A stored member with a descriptor
    has no end marker: it, and everything after it, cannot be read.
    """
    if method != zipfile.ZIP_DEFLATED:
        return None
    inflater = zlib.decompressobj(-15)
    fp.seek(data)
    consumed = 0
    try:
        while not inflater.eof:
            chunk = fp.read(CHUNK)
            if not chunk:
                return None  # cut off inside the data
            consumed += len(chunk)
            inflater.decompress(chunk, CHUNK)
            while inflater.unconsumed_tail and not inflater.eof:
                inflater.decompress(inflater.unconsumed_tail, CHUNK)
    except zlib.error:
        return None
    csize = consumed - len(inflater.unused_data) - len(inflater.unconsumed_tail)
    fp.seek(data + csize)
    tail = fp.read(24)
    signature = 4 if tail[:4] == DESCRIPTOR_SIGNATURE else 0
    layout = "<LQQ" if zip64 else "<LLL"  # 8-byte sizes only for a member with a zip64 extra field
    length = struct.calcsize(layout)
    if len(tail) < signature + length:
        return None
    crc, _, usize = struct.unpack_from(layout, tail, signature)
    return crc, csize, usize, signature + length
