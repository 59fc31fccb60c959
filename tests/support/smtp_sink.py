#!/usr/bin/env python3
"""A real SMTP server for the mail adapter's tests (aiosmtpd 1.4.6).

    smtp_sink.py serve --out DIR [--port N] [--idle-timeout SECONDS]
    smtp_sink.py parse FILE.eml

`serve` listens on 127.0.0.1 (port 0: any free port), prints `port N` once
it accepts connections, and stores each accepted message as a JSON file in
DIR: the envelope (`mail_from`, `rcpt_tos`), the bytes as received (`raw`)
and the message as Python's email parser reads it (`message`). Files are
named by arrival time, so a sink restarted on the same DIR adds to it, and
each is in place before the server answers 250: a client that was told
"accepted" finds it. `--idle-timeout` closes connections idle that long,
as real servers do.

The recipient's local part chooses the answer:
    temp-fail...       451 to RCPT TO
    perm-fail...       550 to RCPT TO
    data-temp-fail...  452 at the end of DATA
    data-perm-fail...  554 at the end of DATA
    anything else      250

`parse` prints the `message` part of that JSON for a message in a file.

Install: python3 -m pip install aiosmtpd==1.4.6
"""

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP

RCPT_RULES = (("temp-fail", "451 4.3.0 try again later"), ("perm-fail", "550 5.1.1 no such user"))
DATA_RULES = (
    ("data-temp-fail", "452 4.3.1 insufficient storage"),
    ("data-perm-fail", "554 5.6.0 message refused"),
)


def local_part(address):
    return address.split("@", 1)[0].lower()


def describe(raw):
    """The message as the standard library's parser reads it."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        parts.append(
            {
                "content_type": part.get_content_type(),
                "content": part.get_content(),
                "defects": [repr(d) for d in part.defects],
            }
        )
    return {
        "headers": [[name, str(value)] for name, value in message.items()],
        "content_type": message.get_content_type(),
        "parts": parts,
        "defects": [repr(d) for d in message.defects],
    }


class Sink:
    def __init__(self, out):
        self.out = out
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for prefix, reply in RCPT_RULES:
            if local_part(address).startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            for prefix, reply in DATA_RULES:
                if local_part(recipient).startswith(prefix):
                    return reply
        raw = envelope.original_content or envelope.content
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": raw.decode("utf-8", "replace"),
            "message": describe(raw),
        }
        name = "%019d-%04d.json" % (time.time_ns(), next(self.numbers))
        temporary = os.path.join(self.out, "." + name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(temporary, os.path.join(self.out, name))
        return "250 2.0.0 OK"


async def serve(args):
    os.makedirs(args.out, exist_ok=True)
    sink = Sink(args.out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.test", timeout=args.idle_timeout),
        host="127.0.0.1",
        port=args.port,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve")
    serve_parser.add_argument("--out", required=True)
    serve_parser.add_argument("--port", type=int, default=0)
    serve_parser.add_argument("--idle-timeout", type=float, default=300)
    parse_parser = commands.add_parser("parse")
    parse_parser.add_argument("file")
    args = parser.parse_args()
    if args.command == "serve":
        asyncio.run(serve(args))
    else:
        with open(args.file, "rb") as file:
            json.dump(describe(file.read()), sys.stdout)


if __name__ == "__main__":
    main()
