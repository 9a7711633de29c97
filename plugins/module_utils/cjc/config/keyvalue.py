"""``key=value`` files kept as line records, so edits touch one line only.

Both documented configuration files (``daemon.conf``, ``site.conf``) use this form:
one ``key=value`` per line, ``#`` comments, no blanks at the start of a line or
around ``=`` (guide §2.1.5). Every line is kept as a record (blank, comment, pair or
malformed); an untouched file round-trips byte for byte, and a malformed line is
reported with file and line number instead of being dropped.
"""

import collections

from ..errors import ConfigError
from .fileio import read_text, write_atomic

BLANK, COMMENT, PAIR, MALFORMED = "blank", "comment", "pair", "malformed"

Line = collections.namedtuple("Line", "kind text key value problem")


class Diagnostic(collections.namedtuple("Diagnostic", "path lineno message")):
    """A problem found in a file; ``str()`` gives ``path:line: message``."""

    def __str__(self):
        return "%s:%d: %s" % (self.path, self.lineno, self.message)


def _parse_line(text):
    body = text.rstrip("\r\n")
    stripped = body.strip()
    if not stripped:
        return Line(BLANK, text, None, None, None)
    if stripped.startswith("#"):
        return Line(COMMENT, text, None, None, None)
    if "=" not in body:
        return Line(MALFORMED, text, None, None, "no '=' in line")
    key, _, value = body.partition("=")
    if not key.strip():
        return Line(MALFORMED, text, None, None, "no key before '='")
    if key != key.strip() or value[:1] in (" ", "\t"):
        return Line(MALFORMED, text, key.strip(), None,
                    "blanks at the start of the line or around '=' (write %s=%s)"
                    % (key.strip(), value.strip()))
    return Line(PAIR, text, key, value.rstrip(" \t"), None)


def parse(text):
    """Split ``text`` into line records; ``''.join(r.text for r in records) == text``."""
    return [_parse_line(line) for line in text.splitlines(keepends=True)]


class KeyValueFile:
    """One ``key=value`` file: read, query, edit one key, save atomically."""

    def __init__(self, path, text=None):
        self.path = path
        self.exists = text is not None
        self.original = text or ""
        self.lines = parse(self.original)

    @classmethod
    def load(cls, path):
        """Read ``path``; a missing file is an empty one (``exists`` is False)."""
        return cls(path, read_text(path))

    def text(self):
        return "".join(line.text for line in self.lines)

    def changed(self):
        return self.text() != self.original

    def values(self):
        """The effective settings: the last well-formed line of each key wins."""
        result = {}
        for line in self.lines:
            if line.kind == PAIR:
                result[line.key] = line.value
        return result

    def get(self, key, default=None):
        return self.values().get(key, default)

    def lineno(self, key):
        """Line number (1-based) of the effective line of ``key``, or 0 when absent."""
        found = 0
        for number, line in enumerate(self.lines, 1):
            if line.kind == PAIR and line.key == key:
                found = number
        return found

    def diagnostics(self, known_keys=None):
        """Malformed lines, duplicated keys and (when ``known_keys`` is given) unknown keys."""
        found, seen = [], {}
        for lineno, line in enumerate(self.lines, 1):
            if line.kind == MALFORMED:
                found.append(Diagnostic(self.path, lineno, "malformed line: %s" % line.problem))
            elif line.kind == PAIR:
                if known_keys is not None and line.key not in known_keys:
                    found.append(Diagnostic(self.path, lineno, "unknown key %r (known: %s)"
                                            % (line.key, ", ".join(sorted(known_keys)))))
                if line.key in seen:
                    found.append(Diagnostic(self.path, lineno, "duplicate key %r (line %d is overridden)"
                                            % (line.key, seen[line.key])))
                seen[line.key] = lineno
        return found

    def set(self, key, value):
        """Set ``key`` to ``value`` in place (its last line) or append it; True if it changed."""
        value = str(value)
        if "\n" in value or "\r" in value or "=" in key or not key or key != key.strip():
            raise ConfigError("%s: cannot write %r=%r: keys and values are single words on one line"
                              % (self.path, key, value))
        for index in range(len(self.lines) - 1, -1, -1):
            line = self.lines[index]
            if line.kind == PAIR and line.key == key:
                if line.value == value:
                    return False
                ending = line.text[len(line.text.rstrip("\r\n")):]
                self.lines[index] = _parse_line("%s=%s%s" % (key, value, ending))
                return True
        if self.lines and not self.lines[-1].text.endswith("\n"):
            last = self.lines[-1]
            self.lines[-1] = last._replace(text=last.text + "\n")
        self.lines.append(_parse_line("%s=%s\n" % (key, value)))
        return True

    def remove(self, key):
        """Delete every line setting ``key``; True if any was there."""
        kept = [line for line in self.lines if not (line.kind == PAIR and line.key == key)]
        changed = len(kept) != len(self.lines)
        self.lines = kept
        return changed

    def save(self, mode=0o644):
        """Write the file atomically (only call when ``changed()``)."""
        write_atomic(self.path, self.text(), mode)
        self.original, self.exists = self.text(), True
