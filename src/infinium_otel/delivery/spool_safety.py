"""What the spool may touch: its own regular files and its own private sub-folders.

A spool directory can be misconfigured (shared, group-writable) or hold things the
spool did not write. So the spool never reads through a symbolic link, never opens
a FIFO, socket or device (a FIFO named like an entry would block delivery forever),
and only uses ``corrupt/`` and ``rejected/`` when they are real directories owned by
this user. Problems are logged once per path, never raised into the application.

The spool directory is private (0700), so the gap between a check here and the
rename or unlink that follows is open only to its owner; a directory others can
write to is reported by ``warn_if_exposed``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading

__all__ = [
    "is_regular_file",
    "private_subfolder",
    "read_regular_file",
    "warn_if_exposed",
    "warn_once",
]

_log = logging.getLogger("infinium_otel.spool")

# Never follow a link, never wait for a FIFO's writer, never leak the fd to a child.
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
# What open() says for a symbolic link under O_NOFOLLOW (ELOOP; EMLINK on FreeBSD)
# and for a socket (ENXIO).
_NOT_A_FILE_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK, errno.ENXIO})
_READ_PIECE = 1024 * 1024

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(kind: str, path: str, message: str, *args: object) -> None:
    """Log ``message`` as a warning the first time ``kind`` happens for ``path``."""
    with _warned_lock:
        if (kind, path) in _warned:
            return
        _warned.add((kind, path))
    _log.warning(message, *args)


def _foreign_owner(info: os.stat_result) -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and info.st_uid != geteuid()


def is_regular_file(path: str) -> bool:
    """True when ``path`` itself (not what a link points to) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_regular_file(path: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of the regular file at ``path``; None when it is not one.

    Checked before opening (so a device is never opened) and again on the open
    descriptor (so a file swapped for a link or a FIFO in between is not read).
    Raises OSError when a regular file cannot be read.
    """
    if not is_regular_file(path):
        return None
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as error:
        if error.errno in _NOT_A_FILE_ERRNOS:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        pieces: list[bytes] = []
        remaining = limit
        while remaining > 0:
            piece = os.read(fd, min(remaining, _READ_PIECE))
            if not piece:
                break
            pieces.append(piece)
            remaining -= len(piece)
        return b"".join(pieces)
    finally:
        os.close(fd)


def private_subfolder(directory: str, sub: str, *, create: bool) -> str | None:
    """The path of ``directory/sub`` when it is safe to move files into; else None.

    Created 0700 when missing and ``create`` is set. A symbolic link, something that
    is not a directory, or a folder owned by another user is refused (and logged once).
    Raises OSError when the folder cannot be created.
    """
    path = os.path.join(directory, sub)
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif _foreign_owner(info):
        problem = f"is owned by another user (uid {info.st_uid})"
    if problem is None:
        return path
    warn_once(
        "subfolder",
        path,
        "Infinium spool: %s %s; the spool does not use it (payloads it would keep there "
        "are deleted instead)",
        path,
        problem,
    )
    return None


def warn_if_exposed(directory: str) -> None:
    """Warn once when others could plant, read or remove payloads in ``directory``."""
    try:
        info = os.stat(directory)
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        warn_once(
            "writable",
            directory,
            "Infinium spool directory %s is group- or world-writable (mode %s): other users "
            "could plant or remove payloads; make it private (chmod 700)",
            directory,
            oct(mode),
        )
    if _foreign_owner(info):
        warn_once(
            "owner",
            directory,
            "Infinium spool directory %s is owned by another user (uid %d): that user "
            "controls what this process sends; use a directory of your own",
            directory,
            info.st_uid,
        )
