"""Moving pictures: video keyframes through a contained ffmpeg, animated
GIF/WebP/PNG frames through Pillow, each frame hashed as a still."""
