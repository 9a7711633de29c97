"""The local sockets of a site on this node: files in a root-owned directory, peers checked.

Every local endpoint of a site (nqsdaemon's request socket ``nqs``, its wake-up
channel ``wake``, the logdaemon's ``log``) is a socket file in
``<root>/usr/spool/nqs/ipc/<key>/``, where ``<key>`` is a digest of the real path of
the site's spool; the port keeper's hand-off is ``<root>/usr/spool/nqs/ipc/portkeeper-<address>-<port>``.

Why there: the directory is on the node's own disk, under the node's root prefix, so
node A and node B of a site (which both see the shared disk, and in the lab are network
namespaces of one kernel) never see each other's sockets; it is owned by root and
writable by no one else, so no user can make (squat) a socket file before the site
starts, and only the daemon that serves a socket makes it (a stale file of a dead
daemon is removed at bind, a live one refused). ``nqs`` is mode 0666 (every user
talks to nqsdaemon), ``log`` and ``wake`` are 0600 (the site's own root processes only).

Both sides check who is at the other end with the kernel's credentials: a user's
client talks only to a uid-0 server (:func:`peer_uid`, SO_PEERCRED), and a datagram
receiver reads the sender's uid with each datagram (:func:`recv_credentials`,
SCM_CREDENTIALS). See docs/security.md, "Local IPC".
"""

import os
import socket
import stat
import struct
import zlib

from ..errors import CjcError

IPC_DIR = "/usr/spool/nqs/ipc"
PUBLIC = 0o666
PRIVATE = 0o600
_UCRED = struct.Struct("3i")
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes with the NUL


def site_key(spool):
    """A short, stable name of a site's spool (``zlib``: no OpenSSL load at a command's start)."""
    path = os.path.realpath(spool).encode("utf-8")
    return "%08x%08x" % (zlib.crc32(path), zlib.adler32(path))


def site_dir(layout, spool):
    """The node-local directory holding the sockets of the site with ``spool``."""
    return os.path.join(layout.path(IPC_DIR), site_key(spool))


def endpoint(layout, spool, kind):
    """The socket file of the site's ``kind`` endpoint (``nqs``, ``wake``, ``log``) on this node."""
    return os.path.join(site_dir(layout, spool), kind)


def handover_endpoint(layout, address, port):
    """The socket file on which an ``nqsportkpr`` offers the port it keeps."""
    return os.path.join(layout.path(IPC_DIR), "portkeeper-%s-%d" % (address, port))


def _via_dir_fd(path, action):
    """``action(address)`` for a socket ``path``; a path too long for sockaddr_un goes through
    an ``O_PATH`` descriptor of its directory (``/proc/self/fd/N/name``)."""
    if len(path.encode("utf-8")) <= _SUN_PATH_MAX:
        return action(path)
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return action("/proc/self/fd/%d/%s" % (fd, os.path.basename(path)))
    finally:
        os.close(fd)


def connect(sock, path):
    _via_dir_fd(path, sock.connect)


def sendto(sock, data, path):
    return _via_dir_fd(path, lambda address: sock.sendto(data, address))


def _require_private_dir(path):
    """Make ``path`` (mode 0755) or check it: a real directory owned by root, writable by root only."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise CjcError("%s must be a directory owned by root and writable by root only (it is %s, uid %d, mode %o): "
                       "remove it, the site's daemons make it again"
                       % (path, "a directory" if stat.S_ISDIR(info.st_mode) else "not a directory",
                          info.st_uid, info.st_mode & 0o7777))


def bind(sock, layout, path, mode):
    """Bind ``sock`` to the socket file ``path`` (under the node's ``IPC_DIR``) with ``mode``
    (``PUBLIC`` or ``PRIVATE``).

    Makes and checks the root-owned directories on the way; removes a stale socket file
    (no one answers at it); refuses when a live process serves it or when ``path`` is not
    a socket. CjcError with one line saying which.
    """
    top = layout.path(IPC_DIR)
    _require_private_dir(top)
    if os.path.dirname(path) != top:
        _require_private_dir(os.path.dirname(path))
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if not stat.S_ISSOCK(info.st_mode):
            raise CjcError("%s is not a socket: remove it by hand (only the site's daemons make files there)" % path)
        probe = socket.socket(socket.AF_UNIX, sock.type)
        try:
            connect(probe, path)
            raise CjcError("another process already serves %s" % path)
        except OSError:
            pass  # stale: its daemon is gone (only root makes files here)
        finally:
            probe.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    try:
        _via_dir_fd(path, sock.bind)
        os.chmod(path, mode)
    except OSError as err:
        raise CjcError("cannot bind %s: %s" % (path, err.strerror or err))


def unlink(path):
    """Remove a socket file this process served (at its orderly end)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def peer_uid(sock):
    """The uid of the process at the other end of a connected UNIX stream socket (SO_PEERCRED)."""
    _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return uid


def accept_credentials(sock):
    """Ask the kernel to attach the sender's credentials to each datagram ``sock`` receives."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)


def recv_credentials(sock, size=65536):
    """``(data, uid)`` of one datagram (``uid`` None when the kernel attached none)."""
    data, ancillary, _flags, _address = sock.recvmsg(size, socket.CMSG_SPACE(_UCRED.size))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            return data, _UCRED.unpack(payload[:_UCRED.size])[1]
    return data, None
