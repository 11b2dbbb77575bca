"""Safe, cheap decoding: draft mode, EXIF orientation, and refusal of hostile files."""
import io
import os
import sqlite3
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest
from PIL import Image

from hashtrail.pipeline.errors import MediaError
from hashtrail.pipeline.media.decode import WORK_SIZE, decode_still
from hashtrail.pipeline.scan import scan
from hashtrail.pipeline.store import Store


def jpeg_bytes(im, **kw) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def test_large_jpeg_is_draft_decoded_to_a_small_picture(photo):
    decoded = decode_still(jpeg_bytes(photo(1, (2400, 1600))), 10**8)
    assert (decoded.width, decoded.height, decoded.format) == (2400, 1600, "JPEG")
    assert decoded.image.mode == "L"
    assert min(decoded.image.size) <= 4 * WORK_SIZE  # never a full-size decode


def test_exif_orientation_is_honoured(photo):
    upright = photo(2, (640, 480))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored sideways
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    decoded = decode_still(jpeg_bytes(stored, exif=exif.tobytes()), 10**8)
    plain = decode_still(jpeg_bytes(upright), 10**8)
    assert (decoded.width, decoded.height) == (640, 480)
    assert decoded.image.size == plain.image.size


def test_truncated_jpeg_is_refused_not_padded_with_grey(photo):
    data = jpeg_bytes(photo(3))
    with pytest.raises(MediaError, match="truncated"):
        decode_still(data[: len(data) // 2], 10**8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height and carries one tiny IDAT chunk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def test_decompression_bomb_fails_fast_with_little_memory(tmp_path):
    """A 40000x40000 PNG would need 4.8 GB decoded; it must be refused from its header."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(40000, 40000))
    script = textwrap.dedent(f"""
        from hashtrail import config
        from hashtrail.pipeline.media.fingerprint import fingerprint_file
        r = fingerprint_file({str(bomb)!r}, {str(tmp_path)!r}, config.load({{}}))
        # VmHWM: this process's peak RSS (ru_maxrss would include the forking parent's)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
        print(r.status, int(hwm) // 1024)
        print(r.reason)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout.splitlines()
    status, peak_mb = out[0].split()
    assert status == "failed"
    assert "40000x40000" in out[1] and "max_pixels" in out[1]
    assert int(peak_mb) < 200, f"peak RSS {peak_mb} MB: the bomb was decoded (4.8 GB if fully)"


@pytest.mark.parametrize("data,match", [
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "corrupt|not a decodable"),
    (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "corrupt|not a decodable"),
])
def test_corrupt_headers_are_media_errors(data, match):
    with pytest.raises(MediaError, match=match):
        decode_still(data, 10**8)


def test_transparent_png_is_flattened_on_white(photo):
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    rgba.paste(photo(4, (200, 100)), (50, 50))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    decoded = decode_still(buf.getvalue(), 10**8)
    assert decoded.image.getpixel((0, 0)) == 255


def test_float_tiff_is_stretched_not_black(tmp_path, photo, settings):
    import numpy as np
    pixels = np.asarray(photo(1).convert("L"), dtype=np.float32) / 255.0
    Image.fromarray(pixels, mode="F").save(tmp_path / "f.tif")
    scan([str(tmp_path)], settings, Store(settings.db))
    (n,) = sqlite3.connect(settings.db).execute("SELECT COUNT(*) FROM fingerprints").fetchone()
    assert n >= 1
