#!/usr/bin/env python3
"""Generate a mail-like corpus of MIME messages (.eml files) for the repository benchmark.

The corpus imitates what an Exchange backup stores: many small messages with
realistic headers, text + HTML bodies, and base64 attachments, where attachments
recur across messages (the same file sent to many people, forwarded, re-sent) and
some messages are delivered to several mailboxes (one copy per recipient, with
different transport headers). Attachment bytes are real documents from
`--attachments DIR` (default: ../shared/data/documents relative to the repo root).

Deterministic: the same --seed gives the same corpus.

    python3 scripts/bench/gen_mail_corpus.py --out /tmp/mail --messages 50000
"""

from __future__ import annotations

import argparse
import email.policy
import email.utils
import mimetypes
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no what up out more about into "
    "than them can only other new some could these two may first then do any like my now over such our man "
    "me even most made after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still own see men work "
    "long get here between both life being under never day same another know while last might us great old "
    "year off come since against go came right used take three budget quarter report meeting invoice "
    "contract project deadline review schedule customer supplier forecast approval migration tenant mailbox "
    "backup policy retention compliance audit server license renewal agenda minutes draft final version "
    "attached please find below regards thanks team update status risk action item owner follow"
).split()

FIRST = "Anna Ben Chloe David Emma Felix Grace Hugo Iris Jonas Klara Liam Mia Noah Olga Paul Rosa Sam Tara Uwe".split()
LAST = "Schmidt Martin Rossi Novak Berg Laurent Costa Weber Fischer Moreau Jansen Silva Kowalski Dubois Meyer".split()
DOMAINS = ["contoso.com", "fabrikam.example", "northwind.example", "adatum.example", "litware.example"]
FOLDERS = ["Inbox", "Sent Items", "Archive", "Inbox/Projects", "Inbox/Finance", "Deleted Items"]


def person(rng: random.Random, domain: str | None = None) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    dom = domain or rng.choice(DOMAINS)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{dom}"


def sentence(rng: random.Random, lo: int = 6, hi: int = 18) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraphs(rng: random.Random, n: int) -> list[str]:
    return [" ".join(sentence(rng) for _ in range(rng.randint(2, 6))) for _ in range(n)]


def html_body(paras: list[str], sender: str) -> str:
    body = "\n".join(f"<p style=\"margin:0 0 8pt 0\">{p}</p>" for p in paras)
    return (
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
        "<style>body{font-family:Calibri,Arial,sans-serif;font-size:11pt}</style></head>"
        f"<body><div class=\"WordSection1\">{body}<p>Best regards,<br>{sender}</p></div></body></html>"
    )


def load_attachments(directory: Path, max_size: int) -> list[tuple[str, bytes]]:
    if not directory.is_dir():
        sys.exit(
            f"error: attachment directory {directory} does not exist; pass --attachments DIR "
            "(the benchmark expects ../shared/data/documents relative to the repository)"
        )
    files = []
    for p in sorted(directory.iterdir()):
        if p.is_file() and 1024 <= p.stat().st_size <= max_size:
            name = p.name.split("__")[-1]
            files.append((name, p.read_bytes()))
    if not files:
        sys.exit(f"error: no usable attachment files (1 KiB..{max_size} bytes) in {directory}")
    return files


def build_message(rng: random.Random, idx: int, when: datetime, attachments, weights, attach_rate: float):
    sender_name, sender = person(rng)
    msg = EmailMessage(policy=email.policy.SMTP)
    recipients = [person(rng, DOMAINS[0]) for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))]
    msg["From"] = email.utils.formataddr((sender_name, sender))
    msg["To"] = ", ".join(email.utils.formataddr(r) for r in recipients)
    if rng.random() < 0.3:
        msg["Cc"] = email.utils.formataddr(person(rng))
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    if rng.random() < 0.35:
        subject = rng.choice(["RE: ", "FW: ", "AW: "]) + subject
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = f"<{rng.getrandbits(64):016x}.{idx}@{sender.split('@')[1]}>"
    if subject.startswith(("RE", "AW")):
        msg["In-Reply-To"] = f"<{rng.getrandbits(64):016x}@{DOMAINS[0]}>"
    msg["MIME-Version"] = "1.0"
    msg["X-MS-Has-Attach"] = ""
    msg["X-MS-Exchange-Organization-SCL"] = str(rng.choice([-1, 0, 1]))
    msg["Thread-Index"] = f"A{rng.getrandbits(120):030x}"
    paras = paragraphs(rng, rng.choice([1, 2, 3, 4, 6, 10]))
    if rng.random() < 0.2:  # quoted thread history makes some bodies long
        paras += ["> " + p for p in paragraphs(rng, rng.randint(4, 20))]
    msg.set_content("\n\n".join(paras) + f"\n\nBest regards,\n{sender_name}\n")
    msg.add_alternative(html_body(paras, sender_name), subtype="html")
    msg["Content-Language"] = rng.choice(["en-US", "de-DE", "fr-FR"])
    if rng.random() < attach_rate:
        del msg["X-MS-Has-Attach"]
        msg["X-MS-Has-Attach"] = "yes"
        for name, data in rng.choices(attachments, weights=weights, k=rng.choice([1, 1, 1, 2, 3])):
            ctype, _ = mimetypes.guess_type(name)
            maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def received_header(rng: random.Random, when: datetime) -> bytes:
    host = f"EX{rng.randint(1, 40):02d}.mail.{DOMAINS[0]}"
    return (
        f"Received: from {host} ({rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
        f"{rng.randint(1, 254)}) by mx{rng.randint(1, 9)}.{DOMAINS[0]} with Microsoft SMTP Server "
        f"id 15.20.{rng.randint(1000, 9999)}.{rng.randint(1, 99)}; {email.utils.format_datetime(when)}\r\n"
    ).encode()


def main() -> None:
    here = Path(__file__).resolve()
    default_docs = here.parents[2] / ".." / "shared" / "data" / "documents"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output directory (must be empty or absent)")
    ap.add_argument("--messages", type=int, default=50_000, help="number of .eml files (default 50000)")
    ap.add_argument("--mailboxes", type=int, default=40)
    ap.add_argument("--attachments", type=Path, default=default_docs.resolve())
    ap.add_argument("--max-attachment", type=int, default=300_000, help="largest attachment file in bytes")
    ap.add_argument("--attach-rate", type=float, default=0.25, help="fraction of messages with attachments")
    ap.add_argument("--fanout-rate", type=float, default=0.15,
                    help="fraction of messages delivered to several mailboxes (one .eml per mailbox)")
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args()

    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"error: output directory {args.out} is not empty")
    rng = random.Random(args.seed)
    attachments = load_attachments(args.attachments, args.max_attachment)
    # Zipf-like popularity: a few attachments are sent very often, most rarely.
    order = list(range(len(attachments)))
    rng.shuffle(order)
    weights = [0.0] * len(attachments)
    for rank, i in enumerate(order):
        weights[i] = 1.0 / (rank + 1) ** 1.1

    start = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
    written = 0
    total_bytes = 0
    idx = 0
    while written < args.messages:
        idx += 1
        when = start + timedelta(seconds=idx * 617 + rng.randint(0, 600))
        msg = build_message(rng, idx, when, attachments, weights, args.attach_rate)
        body = msg.as_bytes()
        copies = 1
        if rng.random() < args.fanout_rate:
            copies = rng.choice([2, 3, 5, 8, 12])
        for mbx in rng.sample(range(args.mailboxes), k=min(copies, args.mailboxes)):
            if written >= args.messages:
                break
            folder = rng.choice(FOLDERS)
            d = args.out / f"user{mbx:03d}" / folder
            d.mkdir(parents=True, exist_ok=True)
            data = received_header(rng, when + timedelta(seconds=rng.randint(1, 30))) + body
            (d / f"{idx:07d}-{written:06d}.eml").write_bytes(data)
            os.utime(d / f"{idx:07d}-{written:06d}.eml", (when.timestamp(), when.timestamp()))
            written += 1
            total_bytes += len(data)
    print(f"wrote {written} messages, {total_bytes / 1e6:.1f} MB, {len(attachments)} distinct attachment files, "
          f"to {args.out}")


if __name__ == "__main__":
    main()
