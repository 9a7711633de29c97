"""Commands: one module per command, each with ``main(argv=None) -> exit status``."""
