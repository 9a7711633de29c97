"""Supervision: the owner process (cjcpw) starts, watches and stops the daemons of a site."""
