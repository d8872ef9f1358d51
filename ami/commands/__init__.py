"""The ``ami`` commands, one module per command group, registered on ``ami.cli.app``.

``common`` holds what they share (the terminal consoles, progress display, number and
date helpers). Each module imports only typer, rich and ``ami.settings`` / ``ami.errors``
at the top: the heavy modules (Polars, Great Expectations, the models) are imported
inside the command that needs them, so ``ami --help`` starts fast.
"""
