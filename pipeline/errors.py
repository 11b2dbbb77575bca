"""Exceptions the pipeline raises; the CLI turns them into clear messages."""


class HashtrailError(Exception):
    """Base class for errors a user can act on."""


class MediaError(HashtrailError):
    """A file could not be fingerprinted; the message is the recorded reason."""


class NotMedia(HashtrailError):
    """The file's content is not a media type hashtrail fingerprints."""


class NoDatabase(HashtrailError):
    """The database file does not exist (run a scan first)."""


class NoSuchCluster(HashtrailError):
    """No cluster has that id."""


class NoMediaFound(HashtrailError):
    """A path given to scan does not exist."""


class NotMatchable(HashtrailError):
    """A file given to match cannot be compared (not media, broken, or too flat)."""


class SettingsError(HashtrailError, ValueError):
    """A setting has a value of the wrong type or out of range (the API's form of ``ConfigError``)."""
