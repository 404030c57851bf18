#!/usr/bin/env python3
"""Interop test: a slixmpp user on another XMPP server (Prosody or
ejabberd) follows a Whassap user's statuses and chats with her, over
federation.

Usage: slixmpp_federation.py HOST PORT JID PASSWORD WHASSAP_USER

Logs in as JID (password PASSWORD) at HOST:PORT over STARTTLS (the peer's
certificate is self-signed), subscribes to WHASSAP_USER's microblog node
(urn:xmpp:microblog:0) and prints "READY". Then, on stdin, the test sends
one line per check:
  "expect TITLE"  wait for a microblog event whose entry title is TITLE;
                  print "GOT <milliseconds since the line was read>"
  "chat TEXT"     send TEXT to WHASSAP_USER and wait for an answer; print
                  "REPLY <body>"
  "quit"          log out
Anything that fails prints "FAIL reason" and exits 1.
"""

import asyncio
import ssl
import sys
import time

import slixmpp

HOST, PORT, JID, PASSWORD, WHASSAP_USER = sys.argv[1:6]
MICROBLOG = "urn:xmpp:microblog:0"
ATOM = "http://www.w3.org/2005/Atom"
TIMEOUT = 10


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def say(line):
    print(line, flush=True)


class Follower(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(JID, PASSWORD, ssl_context=tls_context())
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0060")
        self.titles = asyncio.Queue()
        self.chats = asyncio.Queue()
        self.online = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("pubsub_publish", self.on_publish)
        self.add_event_handler("message", self.on_message)

    async def on_start(self, _):
        await self.get_roster()
        self.send_presence()
        self.online.set()

    def on_publish(self, msg):
        item = msg["pubsub_event"]["items"]["item"]
        payload = item.get_payload()
        title = None if payload is None else payload.find(f"{{{ATOM}}}title")
        if title is not None:
            self.titles.put_nowait(title.text)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.chats.put_nowait(msg["body"])


async def until(queue, pred):
    deadline = time.monotonic() + TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        item = await asyncio.wait_for(queue.get(), left)
        if pred(item):
            return item


async def main():
    xmpp = Follower()
    xmpp.connect(HOST, int(PORT))
    try:
        await asyncio.wait_for(xmpp.online.wait(), TIMEOUT)
    except asyncio.TimeoutError:
        say("FAIL login")
        return 1
    try:
        await xmpp.plugin["xep_0060"].subscribe(WHASSAP_USER, MICROBLOG, timeout=TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any failure is reported
        say(f"FAIL subscribe: {e}")
        return 1
    say("READY")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().rstrip("\n")
        start = time.monotonic()
        command, _, arg = line.partition(" ")
        try:
            if command == "expect":
                await until(xmpp.titles, lambda t: t == arg)
                say(f"GOT {int((time.monotonic() - start) * 1000)}")
            elif command == "chat":
                xmpp.send_message(mto=WHASSAP_USER, mbody=arg, mtype="chat")
                body = await until(xmpp.chats, lambda _: True)
                say(f"REPLY {body}")
            else:
                break
        except (TimeoutError, asyncio.TimeoutError):
            say(f"FAIL {line}: nothing within {TIMEOUT}s")
            return 1
    xmpp.disconnect()
    return 0


sys.exit(asyncio.run(main()))
