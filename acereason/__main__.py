"""``python -m acereason`` is the same as the ``acereason`` command."""

from acereason.cli import app

app(prog_name="acereason")
