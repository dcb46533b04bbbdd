"""Sample data for ``omnitui demo``: a small coffee-gear shop ("Kettle & Crema") with
customers on every channel, written through the same service layer as real sync.

Deterministic for a given ``now`` and seed; touches no network.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from adapters.base import InboundAttachment, InboundMessage, Sender
from omnitui.desk import Desk, clocks
from storage import repository as repo
from storage.models import Conversation, Customer, Identity

ACCOUNTS = {
    "email": "support-mail",
    "telegram": "shop-telegram",
    "matrix": "shop-matrix",
    "mastodon": "shop-mastodon",
    "sms": "shop-twilio",
    "phone": "shop-twilio",
    "whatsapp": "shop-whatsapp",
    "messenger": "shop-messenger",
    "instagram": "shop-instagram",
    "wechat": "shop-wechat",
}
#: The demo's accounts as the desk sees them (reply windows, templates, file limits);
#: the demo polls none of them.
DEMO_ACCOUNTS: dict[str, tuple[str, dict[str, object]]] = {
    "shop-whatsapp": (
        "whatsapp",
        {
            "account_sid": "AC" + "0" * 32,
            "from_number": "whatsapp:+15551230000",
            "templates": {
                "order_update": "HX" + "1" * 32,
                "back_in_stock": "HX" + "2" * 32,
            },
        },
    ),
    "shop-messenger": ("messenger", {"page_id": "1234567890", "human_agent": True}),
    "shop-instagram": ("instagram", {"page_id": "1234567890"}),
    "shop-wechat": ("wechat", {"corp_id": "ww0000000000000000", "open_kfid": "wk" + "0" * 30}),
    "support-mail": ("email", {}),
}
SHOP = "support@kettlecrema.example"


@dataclass
class DemoSummary:
    """What :func:`seed` created."""

    conversations: int = 0
    customers: int = 0
    messages: int = 0
    channels: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Person:
    """A demo customer and their addresses per channel."""

    key: str
    name: str
    addresses: dict[str, str]
    vip: bool = False
    notes: str = ""


PEOPLE = [
    Person(
        "priya",
        "Priya Raman",
        {"email": "priya.raman@example.com", "telegram": "5001", "sms": "+15551230001"},
        vip=True,
        notes="Runs two cafés in Portland; orders beans monthly.",
    ),
    Person(
        "tom",
        "Tom Becker",
        {"sms": "+15551230002", "email": "tom.becker@example.net", "whatsapp": "+15551230002"},
    ),
    Person("mei", "田中 芽衣 (Mei Tanaka)", {"telegram": "5003", "email": "mei.tanaka@example.jp"}),
    Person(
        "jonas",
        "Jonas Weber",
        {"matrix": "@jonas:matrix.example.org", "email": "jonas.weber@example.de"},
    ),
    Person(
        "lars",
        "Lars Nilsen",
        {"mastodon": "@lars@fosstodon.example", "email": "lars@nilsen.example.no"},
    ),
    Person(
        "li",
        "李伟 (Li Wei)",
        {"matrix": "@whatsapp_8613800138000:bridge.example", "email": "li.wei@example.cn"},
        vip=True,
        notes="Wholesale buyer; reaches us over WhatsApp through the Matrix bridge.",
    ),
    Person("sofia", "Sofía García", {"email": "sofia.garcia@example.es", "sms": "+34600111222"}),
    Person("amara", "Amara Okafor", {"email": "amara@okafor-roasters.example"}, vip=True),
    Person("mallory", "[bold]Mallory[/] \x1b]0;pwned\x07", {"email": "mallory@evil.example"}),
    Person("wang", "王小明", {"wechat": "wmDemoWangXiaoMing0001"}),
    Person("ines", "Inês Duarte", {"messenger": "6543210987654321"}),
    Person("kai", "Kai (@kai.brews)", {"instagram": "17841400000000001"}),
]

FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustav",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Paula",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
]
LAST = [
    "Silva",
    "Novak",
    "Dubois",
    "Ivanova",
    "Yilmaz",
    "Haddad",
    "Berg",
    "Sato",
    "Petrov",
    "Moreau",
    "Mensah",
    "Fischer",
    "Rossi",
    "Lindqvist",
    "Khan",
    "Costa",
    "Byrne",
    "Diaz",
]

TOPICS = [
    (
        "Where is my order #{n}?",
        "Hi, I ordered a {item} on Monday and the tracking page still "
        "says 'label created'. Can you check order #{n}?",
    ),
    (
        "Refund for damaged {item}",
        "My {item} arrived with a dent in the side. I'd like a refund "
        "or a replacement, whichever is faster.",
    ),
    ("{item}: which filter size?", "Which paper filters fit the {item}? The box doesn't say."),
    (
        "Discount code not working",
        "The code CREMA10 says 'expired' at checkout but your newsletter said it runs all month.",
    ),
    (
        "Wholesale pricing",
        "We're opening a small café in March. Do you offer wholesale pricing "
        "on the {item} and on beans?",
    ),
    (
        "Grinder is too loud",
        "Is it normal that the {item} squeals at the finest setting? It started last week.",
    ),
    (
        "Change delivery address",
        "Can I still change the delivery address for order #{n}? I'm moving on Friday.",
    ),
    (
        "Warranty question",
        "The {item} stopped heating after 13 months. Is that covered by the 2-year warranty?",
    ),
    (
        "Invoice with VAT number",
        "Could you send an invoice for order #{n} with our VAT number on it? DE 123 456 789.",
    ),
    ("Descaling", "How often should I descale the {item}? Our water is very hard."),
]
ITEMS = [
    "Crema Pro espresso machine",
    "burr grinder",
    "gooseneck kettle",
    "pour-over dripper",
    "milk frother",
    "cold brew tower",
    "scale with timer",
    "moka pot",
]
CHAT_LINES = [
    "hi! quick question about my {item}",
    "is the {item} back in stock?",
    "my order #{n} hasn't arrived yet 😕",
    "can I pick up order #{n} in the shop instead?",
    "does the {item} work on induction?",
    "thanks for the fast shipping! one question though — where's the manual for the {item}?",
]
REPLIES = [
    "Thanks for getting in touch! I've checked and it's on its way — you should have it by "
    "Thursday.",
    "Sorry about that! I've set up a replacement; you'll get a return label by email.",
    "Good question — size 02 filters fit. We have them in the shop too.",
    "That code is valid until the end of the month; I've applied the discount manually.",
]


def _jpeg(seed: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + hashlib.sha256(str(seed).encode()).digest() * 64 + b"\xff\xd9"


def _pdf(text: str) -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\n% " + text.encode() + b"\n" * 400 + b"%%EOF\n"


class _Builder:
    def __init__(self, session: Session, desk: Desk, now: datetime, rng: random.Random) -> None:
        self.s = session
        self.desk = desk
        self.now = now
        self.rng = rng
        self.counter = 0
        self.summary = DemoSummary()

    def ago(self, minutes: float) -> datetime:
        return self.now - timedelta(minutes=minutes)

    def person(self, p: Person) -> None:
        """Create the customer with every identity linked to it."""
        items = list(p.addresses.items())
        first_channel, first_addr = items[0]
        ident = repo.get_or_create_identity(self.s, first_channel, first_addr, p.name)
        customer = self.s.get(Customer, ident.customer_id)
        assert customer is not None
        customer.name = p.name
        customer.vip = p.vip
        customer.notes = p.notes
        for channel, addr in items[1:]:
            if repo.find_identity(self.s, channel, addr) is None:
                self.s.add(
                    Identity(
                        customer_id=customer.id,
                        channel=channel,
                        address=repo.normalise_address(channel, addr),
                        display_name=p.name,
                    )
                )
                repo.log_event(
                    self.s,
                    "customer.merged",
                    actor=self.desk.agent,
                    customer_id=customer.id,
                    detail={"identity": f"{channel}"},
                )
        self.s.flush()

    def inbound(
        self,
        p: Person,
        channel: str,
        minutes_ago: float,
        text: str,
        *,
        subject: str = "",
        in_reply_to: str | None = None,
        kind: str = "message",
        attachments: tuple[InboundAttachment, ...] = (),
    ) -> Conversation:
        self.counter += 1
        sender_channel = "sms" if channel == "phone" else channel
        address = p.addresses[sender_channel]
        at = self.ago(minutes_ago)
        msg_id = (
            f"<demo{self.counter}.{sender_channel}@{address.split('@')[-1] or 'x'}>"
            if channel == "email"
            else None
        )
        message = InboundMessage(
            external_id=f"demo:{channel}:{self.counter}",
            channel=channel,
            sender=Sender(sender_channel, address, p.name),
            sent_at=at,
            text=text,
            subject=subject,
            to=(SHOP,) if channel == "email" else (),
            kind=kind,
            thread_key=address if channel != "email" else None,
            message_id=msg_id.replace(" ", "") if msg_id else None,
            in_reply_to=in_reply_to,
            references=(in_reply_to,) if in_reply_to else (),
            raw=text.encode("utf-8"),
            raw_type="text/plain",
            attachments=attachments,
        )
        if channel == "whatsapp":  # the number is the customer, as the adapter says
            message = replace(message, sender=replace(message.sender, phone=address))
        stored = self.desk.ingest(self.s, ACCOUNTS[channel], message)
        assert stored is not None
        self.summary.messages += 1
        self.summary.channels.add(channel)
        conv = self.s.get(Conversation, stored.conversation_id)
        assert conv is not None
        return conv

    def reply(self, conv: Conversation, minutes_ago: float, text: str) -> None:
        at = self.ago(minutes_ago)
        item = self.desk.reply(self.s, conv, text, at=at)
        self.desk.mark_sent(self.s, item, provider_id=f"demo-{item.id}", at=at)
        self.summary.messages += 1

    def note(self, conv: Conversation, minutes_ago: float, text: str) -> None:
        self.desk.note(self.s, conv, text, at=self.ago(minutes_ago))
        self.summary.messages += 1

    def status(
        self,
        conv: Conversation,
        status: str,
        minutes_ago: float = 0,
        snooze_hours: float | None = None,
    ) -> None:
        until = self.now + timedelta(hours=snooze_hours) if snooze_hours else None
        repo.set_status(
            self.s,
            conv,
            status,
            actor=self.desk.agent,
            at=self.ago(minutes_ago),
            snoozed_until=until,
        )
        clocks.refresh_urgency(conv)

    def tune(
        self,
        conv: Conversation,
        *,
        priority: str | None = None,
        assignee: str | None = None,
        tags: list[str] | None = None,
        read: bool = False,
    ) -> None:
        if priority:
            conv.priority = priority
        if assignee:
            conv.assignee = assignee
        if tags:
            conv.tags = tags
        if read:
            conv.unread = False
        clocks.refresh_urgency(conv)


def _story(b: _Builder, people: dict[str, Person]) -> None:
    """Hand-written conversations: the customers on several channels."""
    priya, tom, mei = people["priya"], people["tom"], people["mei"]
    jonas, lars, li = people["jonas"], people["lars"], people["li"]
    sofia, amara, mallory = people["sofia"], people["amara"], people["mallory"]

    # Priya (VIP): an email thread with a photo, breached; a Telegram chat; an old SMS.
    c = b.inbound(
        priya,
        "email",
        330,
        "Hello,\n\nOrder #4471 arrived this morning and the "
        "glass carafe is cracked (photo attached). We need it for the café on "
        "Saturday — can you ship a replacement express?\n\nPriya",
        subject="Order #4471 arrived with a cracked carafe",
        attachments=(InboundAttachment("carafe-crack.jpg", "image/jpeg", 0, content=_jpeg(1)),),
    )
    b.tune(c, priority="high", tags=["damaged", "express"])
    b.note(c, 300, "Warehouse confirms one Crema Pro carafe left. Holding it for Priya.")
    c = b.inbound(priya, "telegram", 50, "hey, did you see my email about the carafe? 🙏")
    b.tune(c, priority="high")
    c = b.inbound(priya, "sms", 60 * 24 * 20, "Can you deliver the beans before 8am?")
    b.reply(c, 60 * 24 * 20 - 15, "Yes — the courier starts at 7. See you tomorrow!")
    b.status(c, "resolved", 60 * 24 * 19)

    # Tom: a leaking machine — SMS, a missed call and a voicemail, then an email.
    c = b.inbound(tom, "sms", 100, "is anyone there?? machine is leaking all over the counter")
    b.tune(c, priority="urgent", assignee=b.desk.agent)
    b.inbound(tom, "phone", 95, "Missed call (0:00)", kind="call")
    b.inbound(
        tom,
        "phone",
        92,
        "Voicemail (0:42): Hi, it's Tom Becker, the Crema Pro I "
        "bought in June is leaking from the base, please call me back on this number.",
        kind="voicemail",
    )
    c = b.inbound(
        tom,
        "email",
        60 * 24 * 45,
        "Is the Crema Pro compatible with third-party portafilters?",
        subject="Portafilter compatibility",
    )
    b.reply(c, 60 * 24 * 45 - 40, "It takes any 58 mm portafilter. Enjoy!")
    b.status(c, "resolved", 60 * 24 * 44)

    # Mei: Japanese, Telegram now (due in minutes), email last month.
    c = b.inbound(
        mei,
        "telegram",
        53,
        "こんにちは！グラインダーの刃の交換はできますか？\n(Can the grinder burrs be replaced?)",
    )
    c = b.inbound(
        mei,
        "email",
        60 * 24 * 30,
        "注文 #3902 の領収書を送っていただけますか？",
        subject="領収書のお願い (receipt for order #3902)",
    )
    b.reply(c, 60 * 24 * 30 - 90, "Receipt attached — ありがとうございます！")
    b.status(c, "resolved", 60 * 24 * 29)

    # Jonas: Matrix question due soon, and a pending email.
    c = b.inbound(
        jonas,
        "matrix",
        48,
        "Descaling the Crema Pro: citric acid or your descaler? The manual says both.",
    )
    b.tune(c, tags=["how-to"])
    c = b.inbound(
        jonas,
        "email",
        60 * 26,
        "Hi, the invoice for order #4310 is missing our VAT number.",
        subject="Invoice #4310 without VAT number",
        attachments=(
            InboundAttachment(
                "invoice-4310.pdf", "application/pdf", 0, content=_pdf("invoice 4310")
            ),
        ),
    )
    b.reply(
        c,
        60 * 25,
        "Sorry about that — corrected invoice attached. Could you confirm the VAT number is right?",
    )
    b.status(c, "pending", 60 * 25)
    b.tune(c, assignee="sam", tags=["billing"], read=True)

    # Lars: a public mention on Mastodon, and an email about shipping.
    c = b.inbound(
        lars,
        "mastodon",
        35,
        "@kettlecrema do you ship to Norway? Your cold brew tower looks great 😍",
    )
    c = b.inbound(
        lars,
        "email",
        60 * 24 * 3,
        "Customs charged me 25% on arrival. Was that included in the price?",
        subject="Customs fees on order #4019",
    )
    b.reply(
        c,
        60 * 24 * 3 - 120,
        "It isn't, unfortunately — Norway isn't in the EU. I've "
        "refunded the shipping as a goodwill gesture.",
    )
    b.status(c, "snoozed", 60 * 24 * 3 - 120, snooze_hours=20)

    # Li Wei (VIP): WhatsApp via Matrix bridge, Chinese; wholesale email.
    c = b.inbound(
        li,
        "matrix",
        75,
        "你好，我们想订 40 台手冲壶，可以给批发价吗？"
        "\n(Hello, we want 40 kettles — wholesale price?)",
    )
    b.tune(c, priority="high", assignee=b.desk.agent, tags=["wholesale"])
    c = b.inbound(
        li,
        "email",
        60 * 24 * 8,
        "Please find our purchase order attached.",
        subject="PO 2026-118 — 40 × gooseneck kettle",
        attachments=(
            InboundAttachment("PO-2026-118.pdf", "application/pdf", 0, content=_pdf("PO 2026-118")),
            InboundAttachment(
                "delivery-notes.txt", "text/plain", 0, content=b"Dock 3, before noon.\n"
            ),
        ),
    )
    b.reply(c, 60 * 24 * 8 - 200, "Thank you — confirmed. Delivery in week 49.")
    b.status(c, "resolved", 60 * 24 * 7)

    # Sofía: SMS and email, both open.
    c = b.inbound(sofia, "sms", 20, "Hola! Can I change my delivery slot to Saturday?")
    c = b.inbound(
        sofia,
        "email",
        230,
        "Hello, I'd like to return the milk frother — it's unopened. How do I get a label?",
        subject="Return an unopened milk frother",
    )
    b.tune(c, tags=["returns"])

    # Amara (VIP): a follow-up after our reply, next-response clock running.
    c = b.inbound(
        amara,
        "email",
        60 * 5,
        "We'd like to stock your scales in our roastery shop. What's the minimum order?",
        subject="Stocking your scales",
    )
    b.reply(c, 60 * 4.5, "Great to hear! The minimum is 10 units; price list attached.")
    b.inbound(
        amara,
        "email",
        25,
        "Thanks! Can we mix colours within the 10 units?",
        subject=f"Re: [{c.ref}] Stocking your scales",
    )
    b.tune(c, assignee=b.desk.agent, tags=["wholesale"])

    # Hostile input: shown literally, never interpreted.
    b.inbound(
        mallory,
        "email",
        15,
        "[link=https://evil.example]Click for refund[/link]\n"
        "\x1b[2J\x1b[31mYour terminal is mine\x1b[0m \x1b]52;c;cm0gLXJmIH4=\x07\n"
        "Invoice: \u202etxt.exe\n[@click=app.quit]",
        subject="[@click=app.quit]URGENT[/] refund \x1b[5mnow\x1b[0m",
        attachments=(
            InboundAttachment(
                "../../etc/passwd\u202egpj.exe",
                "application/octet-stream",
                0,
                content=b"MZ not really",
            ),
        ),
    )


def _messaging_apps(b: _Builder, people: dict[str, Person]) -> None:
    """WhatsApp, Messenger, Instagram and WeChat, each with its reply window."""
    tom, wang, ines, kai = people["tom"], people["wang"], people["ines"], people["kai"]
    # Tom wrote on WhatsApp 30 hours ago (the same number as his SMS: one customer):
    # the 24-hour window has closed, only a template may go now (T).
    b.inbound(tom, "whatsapp", 30 * 60, "Is the Crema Pro grinder back in stock? 🙂")
    # Inês on Messenger: inside the 24 hours.
    c = b.inbound(ines, "messenger", 95, "Olá! Do you ship to Portugal? How long does it take?")
    b.tune(c, tags=["shipping"])
    # Kai on Instagram Direct, two days ago: the window has closed (no HUMAN_AGENT there).
    b.inbound(
        kai, "instagram", 2 * 24 * 60, "love the new pour-over kettle 😍 is there a black one?"
    )
    # Wang on WeChat: 5 replies within 48 hours of his last message; one used.
    c = b.inbound(wang, "wechat", 180, "你好，我的订单还没到。请问什么时候发货？订单号 4512。")
    b.reply(c, 170, "您好！订单 4512 今天从仓库发出，单号稍后发给您。")
    b.inbound(wang, "wechat", 160, "好的，谢谢！")


def _generated(b: _Builder, count: int) -> None:
    """Single-channel customers with everyday questions, spread over SLA states."""
    rng = b.rng
    channels = [
        "email",
        "email",
        "email",
        "telegram",
        "matrix",
        "mastodon",
        "sms",
        "sms",
        "telegram",
        "email",
    ]
    # Minutes ago chosen per channel target so some are breached, some due soon.
    for i in range(count):
        channel = channels[i % len(channels)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first} {last}"
        slug = f"{first}.{last}.{i}".lower()
        address = {
            "email": f"{slug}@example.org",
            "telegram": str(7000 + i),
            "matrix": f"@{slug}:matrix.example.org",
            "mastodon": f"@{first.lower()}{i}@mastodon.example",
            "sms": f"+1555{2000000 + i:07d}",
        }[channel]
        person = Person(f"gen{i}", name, {channel: address})
        b.person(person)
        item, n = rng.choice(ITEMS), 4000 + rng.randrange(900)
        target = 240 if channel == "email" else (120 if channel == "mastodon" else 60)
        bucket = i % 6
        minutes = {
            0: target * rng.uniform(1.2, 3.0),  # breached
            1: target - rng.uniform(3, 14),  # due within the warning window
            2: target * rng.uniform(0.1, 0.6),  # comfortable
            3: target * rng.uniform(0.3, 0.9),
            4: 60 * 24 * rng.uniform(2, 40),  # older, answered
            5: 60 * 24 * rng.uniform(1, 10),
        }[bucket]
        if channel == "email":
            subject, body = rng.choice(TOPICS)
            conv = b.inbound(
                person,
                channel,
                minutes,
                body.format(item=item, n=n),
                subject=subject.format(item=item, n=n),
            )
        else:
            line = rng.choice(CHAT_LINES).format(item=item, n=n)
            conv = b.inbound(person, channel, minutes, line)
        if bucket >= 4:
            b.reply(conv, minutes - rng.uniform(10, 90), rng.choice(REPLIES))
            if bucket == 4:
                b.status(conv, "resolved", minutes - 120)
            else:
                b.status(conv, "pending", minutes - 100)
        if i % 7 == 3:
            b.tune(conv, assignee=rng.choice([b.desk.agent, "sam"]))
        if i % 11 == 5:
            b.tune(conv, priority="high")
        if i % 5 == 2:
            b.tune(conv, read=True)


#: The event a seeded demo store carries: the demo opens no other store.
DEMO_MARK = "demo.seeded"


def is_demo_store(engine: Engine) -> bool | None:
    """True for a store the demo seeded, False for any other store with data in it
    (a real one: the demo must never touch it), None for an empty store."""
    from sqlmodel import select

    from storage.models import Event

    with Session(engine) as s:
        if s.exec(select(Event.id).where(Event.kind == DEMO_MARK).limit(1)).first():
            return True
        if s.exec(select(Conversation.id).limit(1)).first() is None:
            return None
    return False


def seed(
    engine: Engine,
    *,
    now: datetime | None = None,
    rng_seed: int = 7,
    generated: int = 52,
    agent: str = "me",
) -> DemoSummary:
    """Fill an empty store with the demo data; returns what was created. ``agent`` is
    the name the sample work is done and assigned under (the console's agent, so its
    "mine" view has rows)."""
    now = now or datetime.now(UTC)
    with Session(engine) as s:
        b = _Builder(s, Desk(agent=agent), now, random.Random(rng_seed))
        people = {p.key: p for p in PEOPLE}
        for p in PEOPLE:
            b.person(p)
        _story(b, people)
        _messaging_apps(b, people)
        _generated(b, generated)
        from omnitui.demo_surveys import seed_handling, seed_surveys

        seed_surveys(s, b.desk, now)
        seed_handling(s, b.desk)
        repo.log_event(s, DEMO_MARK, detail={"seed": rng_seed})
        s.commit()
        from sqlmodel import col, func, select

        b.summary.conversations = s.exec(select(func.count(col(Conversation.id)))).one()
        b.summary.customers = s.exec(select(func.count(col(Customer.id)))).one()
    return b.summary
