"""Kind and format come from the bytes, never from the file name."""
import io

import pytest
from PIL import Image

from hashtrail.pipeline.media import kinds


def encoded(fmt: str, mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (16, 16), "red").save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,expected", [("JPEG", "JPEG"), ("PNG", "PNG"), ("GIF", "GIF"), ("WEBP", "WEBP"),
                                          ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_still_formats_are_images(fmt, expected):
    sniffed = kinds.sniff(encoded(fmt)[: kinds.SNIFF_BYTES])
    assert (sniffed.kind, sniffed.format) == (kinds.IMAGE, expected)


def test_mp4_is_video_whatever_its_name():
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    assert kinds.sniff(head).kind == kinds.VIDEO


@pytest.mark.parametrize("head,described", [
    (b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
    (b'{"id": 1}', "JSON"),
    (b"userid,tweetid\n1,2\n", "text"),
    (bytes(range(256)) * 2, "unrecognised binary data"),
])
def test_non_media_is_described(head, described):
    sniffed = kinds.sniff(head)
    assert sniffed.kind == kinds.OTHER
    assert sniffed.format == described


def test_extension_only_words_failures():
    assert kinds.claims_media("a/b/123-x.JPG")
    assert not kinds.claims_media("a/b/tweets.csv")
