"""``omnitui customer forget|show|merge|vip|note``: look up, merge and erase customers,
each named by one of their addresses (``a@b.c``, ``+1555…``, ``channel:address``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from omnitui.cli.context import (
    Yes,
    as_admin,
    confirm_both_sides,
    db_url,
    desk_session,
    fail,
    load,
    open_engine,
    read_stdin,
    say,
)

if TYPE_CHECKING:
    from sqlmodel import Session

customer_app = typer.Typer(help="Look up, merge and erase customers.", rich_markup_mode=None)

Address = Annotated[str, typer.Argument(help="a@b.c, +1555…, or channel:address.")]


def find_customer(s: Session, address: str) -> int:
    """The id of the customer owning ``address``, or a one-line failure."""
    from omnitui.desk.identities import parse_customer_address
    from storage import repository as repo

    try:
        channel, addr = parse_customer_address(address)
    except ValueError as exc:
        fail(str(exc))
    ident = repo.find_identity(s, channel, addr)
    if ident is None or ident.customer_id is None:
        fail(f"no customer with address {address!r}", code=1)
    return ident.customer_id


@customer_app.command("forget")
def customer_forget(
    address: Address,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm the erasure.")] = False,
) -> None:
    """Erase one customer and everything of theirs (GDPR/CCPA)."""
    from sqlmodel import Session

    from storage import repository as repo

    if not yes and not sys.stdin.isatty():
        fail("erasing a customer cannot be undone: add --yes to confirm")
    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        as_admin(s, cfg, "customer forget")
        customer_id = find_customer(s, address)
        if not yes:
            from omnitui.desk.merge_preview import customer_side

            side = customer_side(s, customer_id)
            assert side is not None
            action = f"erase {address} and all of theirs"
            confirm_both_sides(action, [("erased:", side.line())], False)
        counts = repo.forget_customer(s, customer_id, actor=cfg.agent_name)
        s.commit()
    print(
        f"erased customer: {counts['identities']} identities, "
        f"{counts['conversations']} conversations, {counts['messages']} messages"
    )


@customer_app.command("show")
def customer_show(address: Address) -> None:
    """A customer's identities and conversations on every channel."""
    from sqlmodel import Session

    from omnitui.sanitize import clean_line
    from storage import queries

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        customer_id = find_customer(s, address)
        conn = s.connection()
        info = queries.customer_info(conn, customer_id)
        history = queries.customer_history(conn, customer_id)
    assert info is not None
    say(f"{clean_line(info.name)}{'  VIP' if info.vip else ''}")
    for i in info.identities:
        say(f"  {i.channel}:{clean_line(i.address)}")
    for line in info.notes.splitlines():
        say(f"  note: {clean_line(line, 200)}")
    for h in history:
        say(
            f"{h.ref}\t{h.channel}\t{h.status}\t{h.last_message_at.isoformat()}\t"
            f"{clean_line(h.subject or h.preview, 70)}"
        )


@customer_app.command("merge")
def customer_merge(
    keep: Annotated[str, typer.Argument(help="Address of the customer that stays.")],
    other: Annotated[str, typer.Argument(help="Address of the customer merged into it.")],
    yes: Yes = False,
) -> None:
    """Merge two customers: identities, conversations and events move; one event records
    it. Shows both and asks first, unless --yes."""
    from omnitui.desk.merge_preview import customer_side

    with desk_session() as (cfg, desk, s):
        as_admin(s, cfg, "customer merge")
        a, b = find_customer(s, keep), find_customer(s, other)
        if a == b:
            fail(f"{keep} and {other} are already the same customer", code=1)
        kept, gone = customer_side(s, a), customer_side(s, b)
        assert kept is not None and gone is not None
        confirm_both_sides(
            f"merge customer {other} into {keep}",
            [("merged in:", gone.line()), ("stays:", kept.line())],
            yes,
        )
        counts = desk.merge_customers(s, a, b)
        s.commit()
    print(
        f"merged: {counts['identities']} identities and {counts['conversations']} "
        f"conversations moved to customer {a}"
    )


@customer_app.command("vip")
def customer_vip(
    address: Address,
    off: Annotated[bool, typer.Option("--off", help="Remove the VIP flag.")] = False,
) -> None:
    """Flag a customer as VIP (their open conversations get the VIP policy)."""
    with desk_session(writes=True) as (_cfg, desk, s):
        desk.set_vip(s, find_customer(s, address), not off)
        s.commit()
    say(f"{address}: {'not ' if off else ''}VIP")


@customer_app.command("note")
def customer_note(
    address: Address,
    text: Annotated[str, typer.Argument(help="The note; '-' reads stdin; '' clears it.")],
) -> None:
    """Set the free-form notes on a customer (shown in the history pane)."""
    from omnitui.desk.customers import CustomerError

    if text == "-":
        text = read_stdin("customer note")
    with desk_session(writes=True) as (_cfg, desk, s):
        try:
            desk.set_customer_notes(s, find_customer(s, address), text)
        except CustomerError as exc:
            fail(f"customer note: {exc} (got {len(text)})", code=1)
        s.commit()
    say(f"{address}: notes {'cleared' if not text.strip() else 'saved'}")
