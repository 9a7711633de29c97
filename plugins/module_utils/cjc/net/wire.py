"""Length-limited frames, the only thing the engine's sockets speak.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
holding one object. A peer announcing more than ``MAX_FRAME`` bytes is refused
before anything is read (an attacker cannot make a daemon allocate memory).
"""

import json
import socket
import struct

from ..errors import CjcError

# Fits the largest request: a 200 KiB job script (requests.MAX_SCRIPT) in base64 with its
# environment. Replies larger than a frame are paged (qstat: docs/job-engine.md).
MAX_FRAME = 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(CjcError):
    """A frame was malformed, oversize, or the peer went away mid-frame."""


def encode(message):
    """The bytes of one frame carrying the dict ``message``."""
    body = json.dumps(message, sort_keys=True).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise FrameError("message of %d bytes exceeds the frame limit of %d bytes" % (len(body), MAX_FRAME))
    return _HEADER.pack(len(body)) + body


def frame_length(header):
    """The body length announced by a 4-byte header, or FrameError when oversize."""
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise FrameError("frame of %d bytes announced, the limit is %d" % (length, MAX_FRAME))
    return length


def decode(body):
    """The dict carried by a frame body, or FrameError."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise FrameError("frame is not UTF-8 JSON: %s" % err)
    except RecursionError:
        raise FrameError("frame nests JSON too deeply")
    if not isinstance(message, dict):
        raise FrameError("frame does not hold a JSON object")
    return message


def _recv_exact(sock, count):
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise FrameError("connection closed mid-frame (%d of %d bytes)" % (count - left, count))
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_message(sock):
    """Read one frame from a blocking socket (its timeout applies)."""
    length = frame_length(_recv_exact(sock, _HEADER.size))
    return decode(_recv_exact(sock, length))


def send_message(sock, message):
    sock.sendall(encode(message))


class FrameProtocol:
    """The frames as :class:`..server.Server` reads and writes them."""

    @staticmethod
    def parse(buffer):
        """The request dict once ``buffer`` holds one whole frame, None while it needs more;
        FrameError as soon as the header announces too much or more than one frame came."""
        if len(buffer) < _HEADER.size:
            return None
        length = frame_length(buffer[:_HEADER.size])
        if len(buffer) < _HEADER.size + length:
            return None
        if len(buffer) > _HEADER.size + length:
            raise FrameError("%d bytes after the frame" % (len(buffer) - _HEADER.size - length))
        return decode(buffer[_HEADER.size:])

    encode = staticmethod(encode)

    @staticmethod
    def refusal(why):
        return encode({"ok": False, "error": why})


def call(address, message, timeout=10.0, family=socket.AF_INET, source=None):
    """Send one request frame to ``address`` and return the reply dict (or FrameError/OSError).

    ``source``: the local address to send from (a site speaks from its own address).
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if source:
            sock.bind((source, 0))
        sock.connect(address)
        send_message(sock, message)
        return recv_message(sock)
    finally:
        sock.close()
