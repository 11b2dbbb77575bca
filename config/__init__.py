"""Settings: defaults from ``default.toml``, each overridable by ``HASHTRAIL_<KEY>``.

Settings are a frozen dataclass so they can be pickled to pool processes and
passed around without anyone mutating shared state. Environment values are
parsed as the type of the default, so a typo such as ``HASHTRAIL_WORKERS=two``
fails loudly instead of silently running with a string.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Mapping

DEFAULTS_FILE = Path(__file__).with_name("default.toml")
ENV_PREFIX = "HASHTRAIL_"


class ConfigError(ValueError):
    """A setting has a value of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str
    workers: int
    batch_size: int
    file_timeout_s: float
    max_pixels: int
    max_image_bytes: int
    phash_threshold: int
    dhash_threshold: int
    phash256_threshold: int
    hard_phash_threshold: int
    hard_dhash_threshold: int
    hard_phash256_threshold: int
    cluster_crop_windows: bool
    verify_hard: bool
    verify_plain: bool
    join_exact: bool
    hard_mirror: bool
    hard_caption: bool
    hard_rotation: bool
    hard_crop_windows: bool
    hard_screenshot: bool
    min_detail: float
    account_pattern: str
    account_fallback: str
    broker_url: str
    celery_batch_size: int
    max_queued_batches: int
    batch_time_limit_s: float
    visibility_timeout_s: float
    stall_warning_s: float
    path_map: str
    ffmpeg: str
    max_video_bytes: int
    max_video_s: float
    max_frames: int
    frames_per_hour: int
    file_timeout_per_hour_s: float
    frame_interval_s: float
    dense_decode_pixels: int
    frame_share: float
    clip_run_frames: int
    clip_run_tolerance_s: float
    still_also_bits: int

    def replace(self, **changes) -> "Settings":
        """A copy with some settings changed (e.g. from CLI options)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _parse(key: str, raw: str, default):
    kind = type(default)
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{key.upper()}={raw!r} is not a valid {kind.__name__}"
        ) from None


def _validate(s: Settings) -> None:
    if s.workers < 0:
        raise ConfigError("workers must be >= 0 (0 means one per CPU core)")
    if s.batch_size < 1:
        raise ConfigError("batch_size must be >= 1")
    for name in ("file_timeout_s", "max_pixels", "max_image_bytes", "max_video_bytes", "max_video_s",
                 "max_frames", "frame_interval_s", "stall_warning_s"):
        if not getattr(s, name) > 0:
            raise ConfigError(f"{name} must be > 0")
    if not s.min_detail >= 0:  # also refuses NaN
        raise ConfigError("min_detail must be >= 0")
    for name, bits in (("phash_threshold", 64), ("dhash_threshold", 64), ("phash256_threshold", 256),
                       ("hard_phash_threshold", 64), ("hard_dhash_threshold", 64), ("hard_phash256_threshold", 256)):
        if not 0 <= getattr(s, name) <= bits:
            raise ConfigError(f"{name} must be between 0 and {bits} (bits of a {bits}-bit hash)")
    if s.frames_per_hour < 0 or s.file_timeout_per_hour_s < 0:
        raise ConfigError("frames_per_hour and file_timeout_per_hour_s must be >= 0 (0: no per-hour allowance)")
    if s.clip_run_frames < 2 or not s.clip_run_tolerance_s >= 0:
        raise ConfigError("clip_run_frames must be >= 2 and clip_run_tolerance_s >= 0")
    if s.still_also_bits < 0:
        raise ConfigError("still_also_bits must be >= 0")
    if not 0 < s.frame_share <= 1:
        raise ConfigError("frame_share must be > 0 and <= 1")
    if s.dense_decode_pixels < 0:
        raise ConfigError("dense_decode_pixels must be >= 0 (0: keyframes only)")
    if s.celery_batch_size < 1 or s.max_queued_batches < 1:
        raise ConfigError("celery_batch_size and max_queued_batches must be >= 1")
    if s.visibility_timeout_s <= 2 * s.batch_time_limit_s:
        raise ConfigError(
            f"visibility_timeout_s ({s.visibility_timeout_s:g}) must exceed 2 x batch_time_limit_s "
            f"({s.batch_time_limit_s:g}), or Redis redelivers batches that are still running")
    for part in filter(None, (p.strip() for p in s.path_map.split(";"))):
        source, _, target = part.partition("=")
        if not source.strip() or not target.strip():
            raise ConfigError(f"path_map entry {part!r} is not FROM=TO (entries separated by ';')")
    if s.account_fallback not in ("first_dir", "none"):
        raise ConfigError("account_fallback must be 'first_dir' or 'none'")


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the defaults and apply ``HASHTRAIL_*`` overrides from ``env``."""
    env = os.environ if env is None else env
    with DEFAULTS_FILE.open("rb") as fh:
        values = tomllib.load(fh)
    known = {f.name for f in dataclasses.fields(Settings)}
    missing = known - values.keys()
    if missing:
        raise ConfigError(f"{DEFAULTS_FILE} lacks settings: {sorted(missing)}")
    for key in known:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = _parse(key, raw, values[key])
    settings = Settings(**{k: values[k] for k in known})
    _validate(settings)
    return settings
