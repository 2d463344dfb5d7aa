"""The ``datavc`` command line. Subcommand groups are added as they are built."""

import click

from datavc import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datavc")
def main() -> None:
    """datavc: version control and lineage for data."""
