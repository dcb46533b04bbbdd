"""Word lists and text templates for ``bench/generate.py``: names (Latin, accented, CJK),
subjects and messages in English, German, French, Spanish, Japanese and Chinese, with
emoji, order numbers and the usual helpdesk topics. No third-party data, no Faker.

Every builder takes a :class:`random.Random`, so a seed gives the same store.
"""

from __future__ import annotations

import random
import unicodedata


def _words(line: str) -> tuple[str, ...]:
    return tuple(line.split())


#: Locale of a customer and how common it is.
LOCALES = ("en", "de", "fr", "es", "ja", "zh")
LOCALE_WEIGHTS = (52, 14, 10, 7, 9, 8)

FIRST = {
    "en": _words(
        "Emma Liam Olivia Noah Ava James Sophia Lucas Mia Ethan Harper Jack Grace Owen "
        "Chloe Daniel Amara Kofi Priya Omar Zoe Ben Nora Sam"
    ),
    "de": _words(
        "Jürgen Lena Jonas Sophie Maximilian Anna Lukas Marie Felix Katharina Jörg Björn "
        "Hannah Tobias Ömer Käthe"
    ),
    "fr": _words("Chloé Théo Léa Hélène François Zoé Noël Maëlle Jérôme Amélie Gaëlle Loïc"),
    "es": _words("Sofía Mateo Lucía Martín Valentina Andrés Inés José Begoña Íñigo"),
}
LAST = {
    "en": _words(
        "Smith Johnson Brown Taylor Wilson Clarke Walker Wright Hughes Green O'Brien "
        "Murphy Patel Nguyen Okafor Mensah Haddad"
    ),
    "de": _words(
        "Müller Schröder Weiß Groß Köhler Schmidt Becker Hoffmann Wagner Bäcker Yılmaz Krüger"
    ),
    "fr": _words("Dubois Lefèvre Moreau Girard Bérenger Fontaine Mercier Lévêque Rousseau"),
    "es": _words("García Fernández López Martínez Núñez Ibáñez Peña Muñoz"),
}
#: (native, romanised) family and given names.
CJK_FAMILY = {
    "ja": (("田中", "Tanaka"), ("佐藤", "Sato"), ("鈴木", "Suzuki"), ("高橋", "Takahashi"),
           ("渡辺", "Watanabe"), ("伊藤", "Ito"), ("山本", "Yamamoto"), ("中村", "Nakamura")),
    "zh": (("李", "Li"), ("王", "Wang"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
           ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao")),
}  # fmt: skip
CJK_GIVEN = {
    "ja": (("芽衣", "Mei"), ("健太", "Kenta"), ("陽菜", "Hina"), ("翔", "Sho"), ("美咲", "Misaki"),
           ("大輔", "Daisuke"), ("さくら", "Sakura"), ("蓮", "Ren")),
    "zh": (("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("静", "Jing"), ("强", "Qiang"),
           ("磊", "Lei"), ("秀英", "Xiuying"), ("晨", "Chen")),
}  # fmt: skip
EMAIL_DOMAINS = {
    "en": ("example.com", "example.org", "mail.example.net", "example.co.uk"),
    "de": ("example.de", "web.example.de", "posteo.example"),
    "fr": ("example.fr", "orange.example.fr"),
    "es": ("example.es", "correo.example.es"),
    "ja": ("example.co.jp", "example.jp"),
    "zh": ("example.cn", "qq.example.cn"),
}
PHONE_PREFIX = {
    "en": "+1555",
    "de": "+49151",
    "fr": "+336",
    "es": "+346",
    "ja": "+8190",
    "zh": "+86138",
}
NAME_EMOJI = ("🌸", "☕", "🚀", "🎧", "🐈", "🌿", "✨", "🍵")

ITEMS = {
    "en": ("Crema Pro espresso machine", "burr grinder", "gooseneck kettle", "milk frother",
           "pour-over dripper", "cold brew tower", "scale with timer", "moka pot"),
    "de": ("Siebträgermaschine Crema Pro", "Kegelmahlwerk", "Schwanenhalskessel",
           "Milchaufschäumer", "Handfilter", "Feinwaage"),
    "fr": ("machine à espresso Crema Pro", "moulin à meules", "bouilloire col de cygne",
           "mousseur à lait", "cafetière italienne"),
    "es": ("cafetera Crema Pro", "molinillo", "hervidor de cuello de cisne", "espumador"),
    "ja": ("エスプレッソマシン", "グラインダー", "ケトル", "ミルクフォーマー", "ドリッパー"),
    "zh": ("意式咖啡机", "磨豆机", "手冲壶", "奶泡机", "电子秤"),
}  # fmt: skip

SUBJECTS = {
    "en": (
        "Where is my order #{n}?",
        "Refund for damaged {item}",
        "Request a refund for order #{n}",
        "{item}: which filter size?",
        "Discount code not working",
        "Wholesale pricing for {item}",
        "Change delivery address for #{n}",
        "Warranty question — {item}",
        "Invoice #{n} with VAT number",
        "{item} leaking 😩",
        "Return label for order #{n}",
        "Double charged on my card",
    ),
    "de": (
        "Wo bleibt meine Bestellung #{n}?",
        "Rückerstattung für beschädigte {item}",
        "Rechnung #{n} mit USt-IdNr.",
        "Garantiefall: {item} heizt nicht mehr",
    ),
    "fr": (
        "Commande #{n} non reçue",
        "Remboursement : {item} défectueuse",
        "Question sur la garantie ({item})",
        "Facture #{n} — numéro de TVA",
    ),
    "es": (
        "¿Dónde está mi pedido #{n}?",
        "Reembolso del {item} dañado",
        "Cambio de dirección del pedido #{n}",
    ),
    "ja": (
        "注文 #{n} がまだ届きません",
        "{item}の返金について",
        "領収書のお願い (order #{n})",
        "{item}が故障しました 🙏",
    ),
    "zh": (
        "订单 #{n} 还没到",
        "{item} 退款申请",
        "批发价格咨询",
        "发票 #{n} 需要税号",
    ),
}

OPENERS = {
    "en": (
        "I ordered a {item} last week and the tracking page for order #{n} still says "
        "'label created'. Can you check?",
        "My {item} arrived with a dent in the side. I'd like a refund or a replacement, "
        "whichever is faster.",
        "Which paper filters fit the {item}? The box doesn't say.",
        "The code CREMA{code} says 'expired' at checkout but your newsletter said it runs "
        "all month.",
        "We're opening a small café in spring. Do you offer wholesale pricing on the {item}?",
        "Is it normal that the {item} squeals at the finest setting? It started last week.",
        "Can I still change the delivery address for order #{n}? I'm moving on Friday.",
        "The {item} stopped heating after 13 months. Is that covered by the warranty?",
        "I was charged twice for order #{n} ({amount} €). Please refund the duplicate.",
        "The {item} is leaking from the base — water all over the counter 😩",
        "I'd like to return the {item}, it's unopened. How do I get a return label?",
        "Still waiting on the refund for order #{n}, it's been {days} days.",
    ),
    "de": (
        "Meine Bestellung #{n} ist seit {days} Tagen unterwegs. Können Sie nachsehen?",
        "Die {item} kam beschädigt an. Ich hätte gern eine Rückerstattung oder Ersatz.",
        "Könnten Sie mir eine Rechnung für #{n} mit unserer USt-IdNr. schicken?",
        "Die {item} heizt nach 13 Monaten nicht mehr. Ist das ein Garantiefall?",
    ),
    "fr": (
        "Ma commande #{n} n'est toujours pas arrivée après {days} jours. Pouvez-vous vérifier ?",
        "La {item} est arrivée cassée. Je souhaite un remboursement, s'il vous plaît.",
        "Est-ce que la garantie couvre la {item} ? Elle ne chauffe plus du tout.",
        "Pourriez-vous m'envoyer une facture avec notre numéro de TVA pour la commande #{n} ?",
    ),
    "es": (
        "Mi pedido #{n} lleva {days} días en camino. ¿Podéis revisarlo?",
        "El {item} llegó dañado. Quiero un reembolso o un cambio, lo que sea más rápido.",
        "¿Puedo cambiar la dirección de entrega del pedido #{n}? Me mudo el viernes.",
    ),
    "ja": (
        "注文 #{n} の{item}がまだ届いていません。確認していただけますか？",
        "{item}が届いたときに壊れていました。返金か交換をお願いします。",
        "注文 #{n} の領収書を送っていただけますか？",
        "{item}の刃の交換はできますか？",
    ),
    "zh": (
        "你好，我的订单 #{n} 已经 {days} 天了还没到，能帮忙查一下吗？",
        "收到的{item}有损坏，我想申请退款或者换货。",
        "我们想订 40 台{item}，可以给批发价吗？",
        "请给订单 #{n} 开发票，需要写我们公司的税号。",
    ),
}

CHAT_OPENERS = {
    "en": (
        "hi! quick question about my {item}",
        "is the {item} back in stock?",
        "my order #{n} hasn't arrived yet 😕",
        "can I pick up order #{n} in the shop instead?",
        "does the {item} work on induction?",
        "hey, I need a refund for #{n}, it came broken 💔",
        "thanks for the fast shipping! where's the manual for the {item}? 🙏",
        "hello?? anyone there",
    ),
    "de": (
        "Hallo! Ist die {item} wieder lieferbar?",
        "Meine Bestellung #{n} ist noch nicht da 😕",
        "Kann ich #{n} im Laden abholen?",
    ),
    "fr": (
        "Bonjour ! La {item} est-elle de nouveau disponible ?",
        "ma commande #{n} n'est pas arrivée 😕",
    ),
    "es": ("¡Hola! ¿El {item} vuelve a estar disponible?", "mi pedido #{n} no ha llegado 😕"),
    "ja": ("こんにちは！{item}の在庫はありますか？", "注文 #{n} はいつ届きますか？😊"),
    "zh": ("你好！{item}还有货吗？", "订单 #{n} 什么时候发货？🙏"),
}

FOLLOW_UPS = {
    "en": (
        "Any update on this?",
        "Thanks! One more thing — can you also send the invoice?",
        "I haven't received the return label yet.",
        "The replacement arrived but the {item} has the same problem.",
        "ok, tracking says delivered but nothing here 🤔",
        "Great, thank you so much! 🙌",
        "Sorry, I meant order #{n}, not the other one.",
        "Could you just refund it instead? I don't need a replacement.",
        "Here's a photo of the damage.",
    ),
    "de": (
        "Gibt es schon Neuigkeiten?",
        "Danke! Wann kommt die Rückerstattung an?",
        "Das Paket ist immer noch nicht da.",
    ),
    "fr": ("Des nouvelles ?", "Merci beaucoup ! 🙏", "Le remboursement n'est pas encore arrivé."),
    "es": ("¿Alguna novedad?", "¡Muchas gracias! 🙌"),
    "ja": ("その後いかがでしょうか？", "ありがとうございます！助かりました 🙏"),
    "zh": ("请问有进展吗？", "谢谢！🙏", "退款什么时候到账？"),
}

REPLIES = {
    "en": (
        "Thanks for getting in touch! I've checked order #{n} and it's on its way — you should "
        "have it by Thursday.",
        "Sorry about that! I've set up a replacement {item}; you'll get a return label by email.",
        "I've issued a refund of {amount} € for order #{n}. It can take 3–5 business days to show "
        "on your statement.",
        "Good question — size 02 filters fit the {item}. We have them in the shop too.",
        "That code is valid until the end of the month; I've applied the discount manually.",
        "I've updated the delivery address on order #{n}.",
        "The {item} has a 2-year warranty, so this is covered. I'll send a prepaid label.",
        "Could you send us a photo of the serial number on the bottom of the {item}?",
    ),
    "de": (
        "Danke für Ihre Nachricht! Die Bestellung #{n} ist unterwegs und kommt bis Donnerstag.",
        "Das tut uns leid! Die Rückerstattung über {amount} € ist veranlasst.",
        "Die korrigierte Rechnung für #{n} hängt an. Viele Grüße, {agent}",
    ),
    "fr": (
        "Merci pour votre message ! Le remboursement de {amount} € est en cours.",
        "Désolé pour ce souci. Nous envoyons une nouvelle {item} dès aujourd'hui.",
    ),
    "es": ("¡Gracias por escribirnos! El reembolso de {amount} € ya está en camino.",),
    "ja": (
        "お問い合わせありがとうございます。注文 #{n} は発送済みです。",
        "ご迷惑をおかけして申し訳ありません。返金手続きを行いました。",
    ),
    "zh": ("感谢您的联系！订单 #{n} 已经发货。", "非常抱歉，我们已经为您办理退款。"),
}

CHAT_REPLIES = {
    "en": (
        "Hi! Let me check that for you 👀",
        "It's on its way — arriving Thursday 📦",
        "Yes, it works on induction 👍",
        "Refund done ✅ — 3–5 days to show up.",
        "Sure, I've switched #{n} to pick-up.",
        "Back in stock next week!",
    ),
    "de": ("Hallo! Ich schaue kurz nach 👀", "Ist unterwegs, kommt Donnerstag 📦"),
    "fr": ("Bonjour ! Je regarde ça 👀", "C'est en route 📦"),
    "es": ("¡Hola! Lo miro ahora mismo 👀",),
    "ja": ("確認しますね 👀", "発送済みです 📦"),
    "zh": ("我帮您查一下 👀", "已经发货了 📦"),
}

NOTES = (
    "Warehouse confirms one {item} left — holding it.",
    "Customer called too, same issue. Merged the info here.",
    "Refund approved by finance (#{n}).",
    "Checked with the courier: parcel stuck in the hub since Monday.",
    "Escalated to the workshop, serial looks like the faulty batch.",
    "VIP — please answer before noon.",
    "Rückerstattung manuell im Shop-Backend gebucht.",
    "Asked Kenji to call back in Japanese / 日本語で折り返し電話",
)

GREETINGS = {
    "en": ("Hi,", "Hello,", "Hi team,", "Good morning,"),
    "de": ("Hallo,", "Guten Tag,", "Sehr geehrte Damen und Herren,"),
    "fr": ("Bonjour,", "Bonjour Madame, Monsieur,"),
    "es": ("Hola,", "Buenos días,"),
    "ja": ("お世話になっております。",),
    "zh": ("您好，",),
}
SIGNOFFS = {
    "en": ("Thanks,", "Best,", "Cheers,", "Kind regards,"),
    "de": ("Viele Grüße", "Mit freundlichen Grüßen"),
    "fr": ("Cordialement,", "Merci d'avance,"),
    "es": ("Saludos,", "Gracias,"),
    "ja": ("よろしくお願いいたします。",),
    "zh": ("谢谢！",),
}

VOICEMAILS = (
    "Hi, it's {name}, the {item} I bought in June is leaking from the base, please call me back.",
    "Hello, calling about order #{n}, it still hasn't arrived. Thanks.",
    "Hallo, hier ist {name}, bitte rufen Sie mich wegen der Rückerstattung zurück.",
    "Bonjour, c'est {name}, je voudrais un remboursement pour la commande #{n}.",
)

TAGS = (
    "billing", "returns", "shipping", "wholesale", "damaged", "how-to", "warranty",
    "refund", "bug", "feedback", "express", "b2b", "invoice", "stock",
)  # fmt: skip
AGENTS = ("me", "sam", "ana", "kenji", "lea", "omar", "zoé")


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters of ``text`` (accents dropped) for addresses."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def person(rng: random.Random, locale: str) -> tuple[str, str, str]:
    """``(display name, first-name slug, last-name slug)`` for a customer of ``locale``."""
    if locale in CJK_FAMILY:
        fam, fam_latin = rng.choice(CJK_FAMILY[locale])
        given, given_latin = rng.choice(CJK_GIVEN[locale])
        style = rng.random()
        if style < 0.45:
            name = f"{fam} {given}" if locale == "ja" else f"{fam}{given}"
        elif style < 0.75:
            native = f"{fam} {given}" if locale == "ja" else f"{fam}{given}"
            name = f"{native} ({given_latin} {fam_latin})"
        else:
            name = f"{given_latin} {fam_latin}"
        return name, ascii_slug(given_latin), ascii_slug(fam_latin)
    first, last = rng.choice(FIRST[locale]), rng.choice(LAST[locale])
    return f"{first} {last}", ascii_slug(first), ascii_slug(last)


def fill(rng: random.Random, template: str, locale: str, name: str = "", agent: str = "") -> str:
    """``template`` with its placeholders filled."""
    if "{" not in template:
        return template
    return template.format(
        item=rng.choice(ITEMS.get(locale, ITEMS["en"])),
        n=rng.randrange(10_000, 99_999),
        code=rng.randrange(10, 40),
        amount=f"{rng.randrange(9, 900)},{rng.randrange(100):02d}",
        days=rng.randrange(3, 21),
        name=name.split(" ")[0] if name else "",
        agent=agent,
    )


def text(
    rng: random.Random,
    table: dict[str, tuple[str, ...]],
    locale: str,
    name: str = "",
    agent: str = "",
) -> str:
    """A filled template of ``locale`` from ``table`` (one in five in English anyway:
    people switch languages)."""
    if locale != "en" and rng.random() < 0.2:
        locale = "en"
    return fill(rng, rng.choice(table.get(locale) or table["en"]), locale, name, agent)
