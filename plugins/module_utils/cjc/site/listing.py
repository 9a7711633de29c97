"""The ``cjcls`` table of the guide (§2.5.3): one row pair per cluster site.

Shared by the ``cjcls`` command and the site facts of the Ansible side::

    ----------------------------------------------------------------------
    SITE-NAME                 DAEMON-PID    DB-PATH(LINK)                  CJCPW
    ----------------------------------------------------------------------
    testsite                  1320          /mnt/jobdb                        ON
                                            (/usr/spool/nqs/0AC0120A)
    ----------------------------------------------------------------------
"""

from .status import daemon_pid, read_status

RULE = "-" * 70
NAME_W, PID_W, PATH_W = 26, 14, 31


def _cell(text, width):
    """Left-align ``text`` in ``width`` columns, keeping at least one blank after it."""
    return text.ljust(width) if len(text) < width else text + " "


def format_table(sites):
    lines = [RULE, _cell("SITE-NAME", NAME_W) + _cell("DAEMON-PID", PID_W)
             + _cell("DB-PATH(LINK)", PATH_W) + "CJCPW", RULE]
    for site in sites:
        status = read_status(site)
        pid = daemon_pid(status)
        row = _cell(site.name, NAME_W) + _cell(str(pid) if pid else "SHUT", PID_W) + _cell(site.db_path, PATH_W)
        lines.append(row + ("ON" if status["cjcpw"] else "OFF").rjust(5))
        lines.append(" " * (NAME_W + PID_W) + "(%s)" % site.link)
    lines.append(RULE)
    return "\n".join(lines) + "\n"
