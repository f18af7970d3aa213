"""``trailspike rules exceptions`` and ``trailspike rules lists``: exception items, value lists."""

from __future__ import annotations

from typing import Any

import click

from trailspike.cli.options import store_options, writable_store
from trailspike.core.errors import TrailspikeError


@click.group("exceptions")
def exceptions_group() -> None:
    """Exception items: anomalies matching an item raise no alert.

    An item's entries must all hold. Add it to a rule's own list (LIST = the rule id) or to a
    shared list a rule names in `exceptions_list`.

    \b
    Example:
      trailspike rules exceptions add 78d3d8d9-b476-451d-a9e0-7a5addd70670 --name "CI" \\
          --entry "aws.cloudtrail.user_identity.arn in list automation-arns"
    """


@exceptions_group.command("add")
@click.argument("list_id")
@click.option("--name", required=True, help="What the exception is for.")
@click.option(
    "--entry",
    "entries",
    multiple=True,
    required=True,
    help="FIELD is [not] V | is [not] one of A,B | exists | does not exist | matches P | "
    "does not match P | [not] in list L (repeatable; all must hold).",
)
@click.option("--comment", default=None)
@store_options
def add_exception(
    list_id: str,
    name: str,
    entries: tuple[str, ...],
    comment: str | None,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Add an exception item to LIST_ID (a rule id or a shared list id).

    \b
    Example:
      trailspike rules exceptions add 78d3d8d9-b476-451d-a9e0-7a5addd70670 --name "office" \\
          --entry "source.ip is 192.0.2.10" \\
          --entry "aws.cloudtrail.user_identity.arn matches *:role/ci-*"
    """
    from trailspike.rules.exceptions import add_exception_item, parse_entry
    from trailspike.rules.schema import ExceptionItem

    item = ExceptionItem(name=name, entries=[parse_entry(e) for e in entries], comment=comment)
    with writable_store(db, setting_pairs, wait) as (_, con):
        item_id = add_exception_item(con, list_id, item)
    click.echo(f"added exception {item_id} to {list_id}")


@exceptions_group.command("list")
@click.argument("list_id", required=False)
@store_options
def list_exceptions(
    list_id: str | None, db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float
) -> None:
    """List stored exception items, optionally of one list.

    \b
    Example:
      trailspike rules exceptions list 78d3d8d9-b476-451d-a9e0-7a5addd70670
    """
    from trailspike.rules.exceptions import describe_entry, stored_items

    with writable_store(db, setting_pairs, wait) as (_, con):
        items = stored_items(con, [list_id] if list_id else None)
    for item_id, owner, item in items:
        entries = " AND ".join(describe_entry(e) for e in item.entries)
        click.echo(f"{item_id}  [{owner}] {item.name}: {entries}")
    if not items:
        click.echo("no exception items")


@exceptions_group.command("remove")
@click.argument("item_id")
@store_options
def remove_exception(
    item_id: str, db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float
) -> None:
    """Remove an exception item by id.

    \b
    Example:
      trailspike rules exceptions remove 3f0c…
    """
    from trailspike.rules.exceptions import delete_exception_item

    with writable_store(db, setting_pairs, wait) as (_, con):
        found = delete_exception_item(con, item_id)
    if not found:
        raise TrailspikeError(f"no exception item {item_id}")
    click.echo(f"removed {item_id}")


# --- value lists ------------------------------------------------------------------------------


@click.group("lists")
def lists_group() -> None:
    """Value lists (e.g. allow-listed automation ARNs) for `in list` exception entries.

    \b
    Example:
      trailspike rules lists add automation-arns arn:aws:iam::123456789012:role/ci
      trailspike rules lists import automation-arns arns.txt
    """


@lists_group.command("add")
@click.argument("list_id")
@click.argument("values", nargs=-1, required=True)
@store_options
def add_values(
    list_id: str,
    values: tuple[str, ...],
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Add VALUES to LIST_ID (created if new).

    \b
    Example:
      trailspike rules lists add automation-arns arn:aws:iam::123456789012:role/ci
    """
    from trailspike.rules.exceptions import add_list_values

    with writable_store(db, setting_pairs, wait) as (_, con):
        added = add_list_values(con, list_id, values)
    click.echo(f"{added} values added to {list_id}")


@lists_group.command("import")
@click.argument("list_id")
@click.argument("file", type=click.File("r"))
@store_options
def import_values(
    list_id: str,
    file: Any,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Add one value per line of FILE (`-` for stdin) to LIST_ID; `#` starts a comment.

    \b
    Example:
      trailspike rules lists import automation-arns arns.txt
    """
    from trailspike.rules.exceptions import add_list_values

    values = [line.split("#", 1)[0].strip() for line in file]
    with writable_store(db, setting_pairs, wait) as (_, con):
        added = add_list_values(con, list_id, [v for v in values if v])
    click.echo(f"{added} values added to {list_id}")


@lists_group.command("remove")
@click.argument("list_id")
@click.argument("values", nargs=-1, required=True)
@store_options
def remove_values(
    list_id: str,
    values: tuple[str, ...],
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
) -> None:
    """Remove VALUES from LIST_ID.

    \b
    Example:
      trailspike rules lists remove automation-arns arn:aws:iam::123456789012:role/ci
    """
    from trailspike.rules.exceptions import remove_list_values

    with writable_store(db, setting_pairs, wait) as (_, con):
        remove_list_values(con, list_id, values)
    click.echo(f"removed {len(values)} values from {list_id}")


@lists_group.command("show")
@click.argument("list_id", required=False)
@store_options
def show_values(
    list_id: str | None, db: str | None, setting_pairs: tuple[tuple[str, str], ...], wait: float
) -> None:
    """Show the values of LIST_ID, or every list with its size.

    \b
    Example:
      trailspike rules lists show automation-arns
    """
    from trailspike.rules.exceptions import list_values, value_list_ids

    with writable_store(db, setting_pairs, wait) as (_, con):
        if list_id:
            for value in list_values(con, list_id):
                click.echo(value)
        else:
            for name, description, size in value_list_ids(con):
                click.echo(f"{name}\t{size} values\t{description}")
