"""`python -m islands` is the `islands` command."""

from islands.cli.app import main

main()
