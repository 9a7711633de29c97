"""Durable file writes: a temp file beside the target, fsync, rename, fsync the directory.

A reader (or a node that takes the disk over after a crash) sees the old file or
the new one, never a half-written one.
"""

import os

from ..errors import ConfigError


def fsync_dir(path):
    """Make a rename or create inside directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path):
    """Flush the data of the file ``path`` to its disk (a copy that returned is on the disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (str or bytes) atomically.

    An existing file keeps its mode, owner and group; a new one gets ``mode``.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(path) or "."
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    import tempfile  # writers only: a user command that only reads must not pay for it (docs/job-engine.md)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if st is None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, st.st_mode & 0o7777)
            if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def read_text(path):
    """The file's text, or ``None`` when it does not exist; ConfigError when it is not UTF-8."""
    try:
        with open(path, "r", encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        raise ConfigError("%s is not UTF-8 text (byte 0x%02x at offset %d): fix or remove the file"
                          % (path, err.object[err.start], err.start))
