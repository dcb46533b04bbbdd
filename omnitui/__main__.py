"""``python -m omnitui`` (and the ``omnitui`` script): start-up without the cyclic
garbage collector, which would otherwise run several full passes over the objects
that importing SQLAlchemy and Textual creates. The console turns it back on once the
first rows are drawn (``omnitui.ui.app``), every other command at once (``omnitui.cli``)."""

import gc


def main() -> None:
    """Entry point of the ``omnitui`` script."""
    gc.disable()
    from omnitui.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
