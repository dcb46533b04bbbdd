"""The conversation thread: customer, agent and private-note messages, rendered safely."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from omnitui.formatting import (
    PRIORITY,
    PRIORITY_MARK,
    VIP,
    human_size,
    local_time,
    sla_phrase,
)
from omnitui.ui.safe_text import block, line
from storage.queries import ConversationInfo, ThreadItem

DIRECTION_LABEL = {"in": "customer", "out": "agent", "note": "private note"}
#: Explicit colours that keep their hue on 16 colours (ANSI names would go through the
#: theme's palette, where yellow becomes orange and then red).
DIRECTION_STYLE = {
    "in": "bold #5fd7ff",
    "out": "bold #87ff87",
    "note": "bold #000000 on #ffd75f",
}
PROBLEM = "bold #ff8787"
KIND_LABEL = {"call": "phone call", "voicemail": "voicemail"}


def reply_route(info: ConversationInfo) -> str:
    """How a reply travels when that is not the channel's own name: a phone call is
    answered by SMS to the caller's number (``sync.outbound_for``: the customer's
    ``sms:`` identity); empty otherwise."""
    if info.channel != "phone":
        return ""
    numbers = [i.address for i in info.customer.identities if i.channel == "sms"]
    to = f" to {line(numbers[0])}" if len(numbers) == 1 else ""
    return f"↩ replies go by SMS{to}"


def conversation_header(
    info: ConversationInfo, now: datetime | None = None, window: str = ""
) -> Text:
    """``C-1042  email · account · open · !! urgent``, the running SLA clock by name
    (``first response due in 2h05m``, `` !BREACHED  …``), the subject, the customer,
    for a phone call that the reply goes by SMS, and the platform's reply window
    (``window``, e.g. WhatsApp's 24 hours) when one applies."""
    now = now or datetime.now(UTC)
    text = Text()
    text.append(info.ref, "bold")
    text.append(f"  {info.channel} · {info.account} · ")
    text.append(info.status, "bold")
    text.append(" · ")
    mark = PRIORITY_MARK.get(info.priority)
    if mark:
        text.append(f"{mark} {info.priority}", PRIORITY)
    else:
        text.append(info.priority)
    if info.assignee:
        text.append(f" · assigned to {line(info.assignee)}")
    if info.tags:
        text.append("  #" + " #".join(line(t) for t in info.tags))
    sla = sla_phrase(info.due, info.clock, now)
    if sla:
        text.append("\nSLA: ")
        text.append_text(sla)
    text.append("\n")
    text.append(line(info.subject) or "(no subject)", "bold")
    text.append("\n")
    name = line(info.customer.name)
    text.append(("★ " if info.customer.vip else "") + name, VIP if info.customer.vip else "")
    addrs = ", ".join(f"{i.channel}:{line(i.address)}" for i in info.customer.identities)
    text.append(f"  {addrs}")
    route = reply_route(info)
    if route:
        text.append("\n")
        text.append(route, "bold")
    if window:
        text.append("\nReply window: ", "bold")
        text.append(line(window))
    return text


def render_thread(items: list[ThreadItem], zone: tzinfo | None, customer_name: str) -> Text:
    """The whole thread as one Text; customer text is sanitised and never markup."""
    now = datetime.now(UTC)
    out = Text()
    for n, item in enumerate(items):
        if n:
            out.append("\n")
        who = line(customer_name) if item.direction == "in" else (item.author or "me")
        label = KIND_LABEL.get(item.kind, DIRECTION_LABEL.get(item.direction, item.direction))
        out.append(f" {label} ", DIRECTION_STYLE.get(item.direction, "bold"))
        out.append(f" {line(who)}", "bold")
        if item.direction == "in" and item.from_addr:
            out.append(f" <{line(item.from_addr)}>", "dim")
        out.append(f"  {local_time(item.sent_at, zone, now)}", "dim")
        if item.delivery and item.delivery != "sent":
            style = PROBLEM if item.delivery in ("failed", "uncertain") else "#ffd75f"
            out.append(f"  [{item.delivery}]", style)
            if item.delivery_error:
                out.append(f" {line(item.delivery_error, 120)}", "#ff8787")
        elif item.delivery == "sent":
            out.append("  ✓ sent", "#87ff87")
        out.append("\n")
        body = block(item.text).rstrip("\n") or "(no text)"
        out.append(body, "italic" if item.direction == "note" else "")
        out.append("\n")
        for att in item.attachments:
            out.append("  📎 ", "dim")
            out.append(line(att.filename) or "(unnamed)", "underline")
            out.append(f"  {line(att.content_type)}, {human_size(att.size)}\n", "dim")
    return out


class ThreadView(VerticalScroll, can_focus=True):
    """Scrollable thread of one conversation."""

    DEFAULT_CSS = """
    ThreadView { height: 1fr; padding: 0 1; }
    ThreadView > #thread-header { margin-bottom: 1; border-bottom: solid $primary 50%; }
    ThreadView > #thread-presence { display: none; margin-bottom: 1; }
    """

    def compose(self):  # noqa: ANN201
        yield Static(id="thread-header")
        yield Static(id="thread-presence")
        yield Static(id="thread-body")

    def show_watchers(self, text: str) -> None:
        """Who else has this conversation open (``◉ sam is typing a reply``), or nobody."""
        shown = self.query_one("#thread-presence", Static)
        shown.update(Text("◉ " + text, "bold") if text else "")
        shown.display = bool(text)

    def show(
        self,
        info: ConversationInfo,
        items: list[ThreadItem],
        zone: tzinfo | None,
        window: str = "",
    ) -> None:
        """Display a conversation (with its reply window, when one applies) and scroll
        to its newest message."""
        self.query_one("#thread-header", Static).update(conversation_header(info, window=window))
        self.query_one("#thread-body", Static).update(
            render_thread(items, zone, info.customer.name)
        )
        self.call_after_refresh(self.scroll_end, animate=False)
