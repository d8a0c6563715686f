"""The `islands` command line. Entry point: `islands.cli.app:main`."""
