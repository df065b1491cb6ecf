"""`flask demo-data`: placeholder until the generator lands."""

import click


@click.command("demo-data")
def demo_data_command() -> None:
    """Load a generated demo referential."""
