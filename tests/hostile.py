"""Hostile files the tests generate."""
import io

from PIL import Image


def many_frame_gif(path, frames: int = 1_000_000) -> str:
    """A GIF of `frames` 4x4 frames: counting them keeps Pillow busy for seconds."""
    first, second = Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))
    buf = io.BytesIO()
    first.save(buf, "GIF", save_all=True, append_images=[second], duration=10, disposal=2)
    data = buf.getvalue()
    separators = [i for i, byte in enumerate(data) if byte == 0x2C]
    start = data.rfind(b"\x21\xf9", separators[0], separators[1])  # second frame's control block
    with open(path, "wb") as fh:
        fh.write(data[:start] + data[start:-1] * frames + b";")
    return str(path)
