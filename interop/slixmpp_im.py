#!/usr/bin/env python3
"""Interop test: two slixmpp clients against a running Whassap server.

Usage: slixmpp_im.py HOST PORT   (accounts alice and bob, password "password",
domain localhost, must exist). Checks: login over STARTTLS, roster,
subscription handshake, presence, a message exchange, offline delivery.
Exits 0 when every step passed; prints one line per step.
"""

import asyncio
import ssl
import sys

import slixmpp

HOST, PORT = sys.argv[1], int(sys.argv[2])
STEP_TIMEOUT = 10


def tls_context():
    # The test server's certificate is self-signed for "localhost".
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid):
        super().__init__(jid, "password", ssl_context=tls_context())
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0203")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.secure = False
        self.online = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence_available", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("tls_success", self.on_tls)

    def on_tls(self, *_):
        self.secure = True

    async def on_start(self, _):
        await self.get_roster()
        self.send_presence()
        self.online.set()

    async def start(self):
        self.connect(HOST, PORT)
        await asyncio.wait_for(self.online.wait(), STEP_TIMEOUT)


def ok(step):
    print(f"ok   {step}", flush=True)


async def expect(queue, what, pred=lambda _: True):
    while True:
        item = await asyncio.wait_for(queue.get(), STEP_TIMEOUT)
        if pred(item):
            return item


async def main():
    alice = Client("alice@localhost/slix")
    bob = Client("bob@localhost/slix")
    bob.auto_authorize = True
    bob.auto_subscribe = True
    alice.auto_authorize = True
    await alice.start()
    await bob.start()
    assert alice.secure and bob.secure, "logins negotiated STARTTLS"
    ok("login over STARTTLS with SASL")

    alice.send_presence_subscription(pto="bob@localhost")
    await expect(alice.presences, "bob's presence", lambda p: p["from"].bare == "bob@localhost")
    ok("subscription approved and bob's presence received")
    for _ in range(50):
        item = alice.client_roster["bob@localhost"]
        if item["subscription"] in ("to", "both"):
            break
        await asyncio.sleep(0.1)
    assert alice.client_roster["bob@localhost"]["subscription"] in ("to", "both"), alice.client_roster
    ok("roster shows the subscription")

    alice.send_message(mto="bob@localhost", mbody="hello bob", mtype="chat")
    m = await expect(bob.messages, "message", lambda m: m["body"] == "hello bob")
    assert m["from"].bare == "alice@localhost"
    bob.send_message(mto=m["from"], mbody="hello alice", mtype="chat")
    await expect(alice.messages, "reply", lambda m: m["body"] == "hello alice")
    ok("message exchange")

    bob.disconnect()
    await asyncio.wait_for(bob.disconnected, STEP_TIMEOUT)
    await asyncio.sleep(0.3)
    alice.send_message(mto="bob@localhost", mbody="while you were away", mtype="chat")
    await asyncio.sleep(0.3)
    bob2 = Client("bob@localhost/slix2")
    await bob2.start()
    m = await expect(bob2.messages, "offline message", lambda m: m["body"] == "while you were away")
    assert m["delay"]["stamp"] is not None, "offline message carries a delay stamp"
    ok("offline message delivered with delay after reconnect")

    alice.disconnect()
    bob2.disconnect()
    print("slixmpp interop: 5 passed, 0 failed", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except Exception as e:  # report and fail
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
