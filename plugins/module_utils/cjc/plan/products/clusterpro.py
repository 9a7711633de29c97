"""CLUSTERPRO / EXPRESSCLUSTER for Linux backend of ``cjc_cluster_service`` (guide §4.1).

What it writes into ``config_dir`` (the exec resource's script directory, e.g.
``<exported config>/scripts/<group>/<exec resource>``): ``start.sh`` and ``stop.sh`` in
the guide's structure (§4.1.2): act only when ``CLP_EVENT`` is ``START`` or
``FAILOVER`` *and* ``CLP_DISK`` is ``SUCCESS``;

* start: ``/usr/lib/nqs/cluster/cjcpw <site> <db>`` (``options.monitored``, default: the
  exec resource runs it asynchronously and a PID monitor watches it) or
  ``cjcpw -c <site> <db>`` (not monitored); ``/usr/lib/nqs/nqsportkpr <site>`` first when
  ``options.portkeeper`` (§4.1.3);
* stop: ``/usr/lib/nqs/cluster/cjcpw -stop <site>`` (the guide's sample says ``orange``:
  it is the site).

Settings returned for the operator (Builder / WebManager): start script asynchronous,
stop script synchronous, a PID monitor on the exec resource whose recovery target is
the failover group ``options.failover_group`` (§4.1.1 (2), (3)). Command: ``clpcfctrl
--push -l [-x options.push_dir]`` (§4.1.2 (3)), run here when ``clpcfctrl`` is on PATH
and a script changed; then every server is restarted (the guide's step, left to the
operator).
"""

from ._rendered import RenderedBackend, opt_abspath, opt_bool, opt_name, portkeeper_argv, sh_line, start_argv, stop_argv


def _script(request, verb, commands):
    """The guide's start.sh/stop.sh skeleton around ``commands`` (lists of argv)."""
    lines = ["#! /bin/sh", ""]
    for index, (event, label) in enumerate((("START", "NORMAL"), ("FAILOVER", "FAILOVER"))):
        lines += ['%s [ "$CLP_EVENT" = "%s" ]' % ("if" if index == 0 else "elif", event),
                  "then",
                  ' if [ "$CLP_DISK" = "SUCCESS" ]',
                  " then",
                  '  echo "%s CJCPW %s"' % (label, verb)]
        lines += ["  " + sh_line(argv) for argv in commands]
        lines += [" fi"]
    # §4.1.2: the guide's "#NO_CLP" / "#EXIT" leave the else branch empty, a syntax error in sh;
    # the product's own template echoes them.
    lines += ["else", ' echo "NO_CLP"', "fi", 'echo "EXIT"', "", "exit 0", ""]
    return "\n".join(lines)


def start_script(request, monitored=True, portkeeper=False):
    commands = ([portkeeper_argv(request)] if portkeeper else []) + [start_argv(request, monitored)]
    return _script(request, "STARTUP", commands)


def stop_script(request):
    return _script(request, "STOP", [stop_argv(request)])


class ClusterproBackend(RenderedBackend):
    cli = "clpcfctrl"
    OPTIONS = {
        "monitored": (opt_bool, True),
        "portkeeper": (opt_bool, False),
        "failover_group": (opt_name, "failover"),
        "push_dir": (opt_abspath, None),
    }

    FILES = ("start.sh", "stop.sh")

    def texts(self, request, current):
        options = current["options"]
        return [start_script(request, options["monitored"], options["portkeeper"]), stop_script(request)]

    def commands(self, request, current):
        push_dir = current["options"]["push_dir"]
        return [(["clpcfctrl", "--push", "-l"] + (["-x", push_dir] if push_dir else []), True)]

    def settings(self, request, current):
        options = current["options"]
        name, group = request.service_name, options["failover_group"]
        found = ["failover group %s holds a floating IP resource%s, a disk resource (the site database %s is on "
                 "it), a RAW monitor and the exec resource %s (guide 4.1.1 (1))"
                 % (group, " (%s)" % request.address if request.address else "", request.db_path, name),
                 "exec resource %s: start script start.sh, Resource Tuning Properties > Parameter > Start Script: "
                 "Asynchronous (cjcpw runs in the foreground; guide 4.1.1 (2))" % name,
                 "exec resource %s: stop script stop.sh, Stop Script: Synchronous (cjcpw -stop takes up to the site's "
                 "STOP_TIMEOUT; guide 4.1.2 (2))" % name]
        if options["monitored"]:
            found.append("PID monitor on exec resource %s (Monitor tab: target resource %s, interval %d s; Error "
                         "Detection tab: recovery target failover group %s; guide 4.1.1 (3))"
                         % (name, name, request.monitor_interval, group))
        found.append("after clpcfctrl --push: restart every server to apply the configuration (guide 4.1.2 (3))")
        return found

    def resources(self, request, current):
        return {"exec_resource": request.service_name, "failover_group": current["options"]["failover_group"],
                "pid_monitor": request.service_name if current["options"]["monitored"] else None}
