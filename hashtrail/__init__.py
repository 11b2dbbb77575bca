"""hashtrail: find media reused across accounts in information-operations archives."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hashtrail")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
