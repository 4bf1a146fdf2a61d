"""Run the giaoviec command as ``python -m cli``."""

from cli.main import run

run()
