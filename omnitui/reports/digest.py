"""The daily digest: yesterday's report as a short plain-text mail for the owner
(``omnitui report --digest --to …``, for cron). Pure: the period and the text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from omnitui.reports.render import busiest_hours, change, figure, shown
from omnitui.sanitize import for_terminal

#: The digest's headline figures: (label, path, kind).
HEADLINE: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("New conversations", ("conversations", "created"), "count"),
    ("Resolved", ("conversations", "resolved"), "count"),
    ("Reopened", ("conversations", "reopened"), "count"),
    ("Messages in", ("messages", "in"), "count"),
    ("Agent replies", ("replies",), "count"),
    ("First response (median)", ("first_response_seconds", "median"), "seconds"),
    ("First response (90 %)", ("first_response_seconds", "p90"), "seconds"),
    ("Next response (median)", ("next_response_seconds", "median"), "seconds"),
    ("Resolution (median)", ("resolution_seconds", "median"), "seconds"),
    ("SLA met", ("sla", "attainment"), "share"),
    ("Breaching now", ("sla", "breaching_now"), "count"),
    ("First-contact resolution", ("fcr",), "share"),
    ("Handling time per conversation", ("aht_seconds",), "seconds"),
    ("CSAT (4-5 of answers)", ("csat", "score"), "share"),
    ("Survey answers", ("csat", "answers"), "count"),
)


def yesterday(now: datetime, tz: tzinfo) -> tuple[datetime, datetime, datetime, str]:
    """Yesterday in ``tz``: the start of the day before it, its own start and end (aware
    UTC; local midnights, so a 23- or 25-hour day is its own length), and its date."""
    today = now.astimezone(tz).date()
    day = today - timedelta(days=1)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(), tz).astimezone(UTC)

    return midnight(day - timedelta(days=1)), midnight(day), midnight(today), day.isoformat()


def mime(from_addr: str, to: str, day: str, text: str) -> tuple[str, bytes]:
    """The digest as a mail of its own (not a reply): its Message-ID and bytes,
    marked ``Auto-Submitted: auto-generated`` so no robot answers it."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message_id = make_msgid(idstring="omnitui-digest", domain=from_addr.rpartition("@")[2] or None)
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = to
    msg["Subject"] = subject(day)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    return message_id, msg.as_bytes()


def subject(day: str) -> str:
    """The digest's subject line."""
    return f"Support digest for {day}"


def body(report: dict[str, Any], day: str) -> str:
    """The digest's text: headline figures against the day before, channels, agents,
    busiest hours and the survey comments (customer text cleaned, never markup)."""
    previous = report["previous"]
    width = max(len(label) for label, _, _ in HEADLINE)
    lines = [f"Support digest for {day} (beside the day before)", ""]
    for label, path, kind in HEADLINE:
        now, before = figure(report, path), figure(previous, path)
        lines.append(f"{label:<{width}}  {shown(now, kind):>8}  ({change(now, before, kind)})")
    if report["by_channel"]:
        lines += ["", "By channel:"]
        for name, block in report["by_channel"].items():
            lines.append(
                f"  {name:<10} {block['conversations']['created']:>5} new, "
                f"first response {shown(block['first_response_seconds']['median'], 'seconds')}, "
                f"SLA {shown(block['sla']['attainment'], 'share')}"
            )
    agents = report.get("agents", {})
    if agents:
        lines += ["", "By agent:"]
        for name, row in agents.items():
            lines.append(
                f"  {for_terminal(name)[:24]:<24} {row['conversations']:>5} conversations, "
                f"{row['replies']} replies, AHT {shown(row['aht_seconds'], 'seconds')}, "
                f"CSAT {shown(row['csat']['score'], 'share')}"
            )
    busy = busiest_hours(report.get("heatmap", {}), top=3)
    if busy:
        lines += ["", "Busiest hours: " + ", ".join(f"{label} ({n})" for label, n in busy)]
    comments = report["csat"].get("comments", [])
    if comments:
        lines += ["", "Survey comments:"]
        for c in comments[:10]:
            text = " ".join(for_terminal(c["comment"]).split())[:300]
            lines.append(f"  {c['score']}/5 {for_terminal(c['conversation'])}: {text}")
    lines += ["", "-- omnitui report --digest"]
    return "\n".join(lines) + "\n"
