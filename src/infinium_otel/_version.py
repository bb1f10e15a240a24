"""The package version, read from the installed metadata."""

from importlib import metadata

try:
    __version__ = metadata.version("infinium-otel")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
