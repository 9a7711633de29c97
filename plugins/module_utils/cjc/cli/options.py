"""The options of the NQS user commands (qsub, qstat, qdel, qmgr): a small parser that starts fast.

argparse costs a user command more than everything else it imports (it loads ``re``,
``gettext`` and ``shutil`` and sizes the terminal before a word is parsed); these
commands run thousands of times a day, so they take their few NQS-style options here
(docs/job-engine.md, "Command start"). The root-only commands keep argparse
(:class:`.common.Parser`). Same contract: a bad command line is a UsageError with the
usage line, ``-h`` prints the help.
"""

import sys

from ..errors import UsageError

_VALUE, _TRUE, _APPEND = "store", "store_true", "append"


class Options:
    """``Options(prog, description)``, then ``add_argument`` as with argparse (single-dash flags,
    actions store / store_true / append, ``type``; positionals with ``nargs`` ``?``, ``*`` or ``+``)."""

    def __init__(self, prog, description):
        self.prog, self.description = prog, description
        self.flags, self.positionals = {}, []
        self.add_argument("--root", dest="root", metavar="DIR",
                          help="root prefix of the node's files (default: $CJC_ROOT or /)")

    def add_argument(self, name, **spec):
        """``spec``: argparse's ``dest``, ``action``, ``default``, ``type``, ``metavar``, ``help``, ``nargs``."""
        positional = not name.startswith("-")
        dest, action = spec.get("dest") or name, spec.get("action", _VALUE)
        default = spec.get("default", [] if action == _APPEND else None)
        option = {"name": name, "dest": dest, "action": action, "type": spec.get("type", str), "help": spec.get("help", ""),
                  "metavar": spec.get("metavar") or (name if positional else dest.upper()), "nargs": spec.get("nargs"),
                  "default": default}
        if positional:
            self.positionals.append(option)
        else:
            self.flags[name] = option

    def usage(self):
        """The usage line, in argparse's form (the commands' messages stay what they were)."""
        words = ["usage: %s [-h]" % self.prog]
        for option in self.flags.values():
            words.append("[%s]" % option["name"] if option["action"] == _TRUE else
                         "[%s %s]" % (option["name"], option["metavar"]))
        for option in self.positionals:
            words.append({"?": "[{0}]", "*": "[{0} ...]", "+": "{0} [{0} ...]"}.get(option["nargs"], "{0}")
                         .format(option["metavar"]))
        return " ".join(words)

    def _help(self):
        lines = [self.usage(), "", self.description, ""]
        for option in list(self.flags.values()) + self.positionals:
            if option in self.positionals:
                shown = option["metavar"]
            else:
                shown = option["name"] + ("" if option["action"] == _TRUE else " " + option["metavar"])
            lines.append("  %-24s %s" % (shown, option["help"]))
        sys.stdout.write("\n".join(lines) + "\n")
        raise SystemExit(0)

    def error(self, message):
        raise UsageError("%s\n%s" % (message, self.usage()))

    def parse_args(self, argv):
        """An object with one attribute per ``dest``; UsageError on a bad command line."""
        values = {option["dest"]: option["default"] for option in list(self.flags.values()) + self.positionals}
        words, argv = [], list(argv)
        while argv:
            word = argv.pop(0)
            if word == "--":
                words += argv
                break
            if word in ("-h", "--help"):
                self._help()
            name, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")
            option = self.flags.get(name)
            if option is None and not word.startswith("--") and self.flags.get(word[:2], {}).get("action") in (_VALUE, _APPEND):
                name, eq, attached = word[:2], "=", word[2:]  # -qguibs_1: a short option's attached value
                option = self.flags[name]
            if option is None or (eq and option["action"] == _TRUE):
                if word.startswith("-") and word != "-":
                    self.error("unrecognized arguments: %s" % word)
                words.append(word)
                continue
            if option["action"] == _TRUE:
                values[option["dest"]] = True
                continue
            if not eq:
                if not argv:
                    self.error("argument %s: expected one argument" % name)
                attached = argv.pop(0)
            try:
                value = option["type"](attached)
            except ValueError:
                self.error("argument %s: invalid %s value: %r" % (name, getattr(option["type"], "__name__", "its"), attached))
            if option["action"] == _APPEND:
                values[option["dest"]] = values[option["dest"]] + [value]
            else:
                values[option["dest"]] = value
        self._positionals(words, values)
        return _Values(values)

    def _positionals(self, words, values):
        for option in self.positionals:
            nargs = option["nargs"]
            if nargs in ("*", "+"):
                if nargs == "+" and not words:
                    self.error("the following arguments are required: %s" % option["metavar"])
                values[option["dest"]], words = [option["type"](w) for w in words], []
            elif words:
                values[option["dest"]] = option["type"](words.pop(0))
            elif nargs != "?":
                self.error("the following arguments are required: %s" % option["metavar"])
        if words:
            self.error("unrecognized arguments: %s" % " ".join(words))


class _Values:
    """The parsed command line: ``args.queue`` and friends."""

    def __init__(self, values):
        self.__dict__.update(values)
