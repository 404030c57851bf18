#!/usr/bin/env python3
"""Interop test: slixmpp's PubSub (XEP-0060) and PEP (XEP-0163) against a
running Whassap server.

Usage: slixmpp_pubsub.py HOST PORT   (accounts alice, bob and carol, password
"password", domain localhost, must exist; the pubsub service is
pubsub.localhost). Uses the xep_0060, xep_0163, xep_0115 and xep_0030 plugins.

Checks, in order (each bounded by a timeout, so a missing feature fails that
check instead of hanging; later checks may depend on earlier ones):
   1. login over STARTTLS (alice and bob)
   2. pubsub: alice creates node interop_node on pubsub.localhost
   3. pubsub: bob subscribes (bare JID)
   4. pubsub: alice publishes item "one", bob gets the event with the payload
   5. pubsub: items retrieval shows "one" with publisher = alice's bare JID
   6. pubsub: alice retracts "one" with notify, bob gets the retract event
   7. pubsub: alice deletes the node
   8. presence subscription alice <-> bob in both directions
   9. PEP: bob's caps say urn:xmpp:microblog:0+notify, alice publishes to her
      microblog node, bob gets the event
  10. PEP: a fresh bob session gets alice's last microblog item on coming online
  11. PEP: carol (no contact) subscribes explicitly to alice's microblog node
      and gets alice's second entry
  12. PEP: bob retrieves both entries of alice's microblog node
Prints "PASS name" or "FAIL name: reason" per check and at the end
"N passed, M failed". Exits 0 only when every check passed.
"""

import asyncio
import ssl
import sys
import time
import xml.etree.ElementTree as ET

import slixmpp

HOST, PORT = sys.argv[1], int(sys.argv[2])
STEP_TIMEOUT = 5  # one IQ round trip or one awaited event
CHECK_TIMEOUT = 15  # one whole check
RUN_TIMEOUT = 55  # all checks (cleanup comes on top, bounded too)

DOMAIN = "localhost"
PUBSUB = "pubsub.localhost"
NODE = "interop_node"
MICROBLOG = "urn:xmpp:microblog:0"
ATOM = "http://www.w3.org/2005/Atom"
ALICE, BOB, CAROL = "alice@localhost", "bob@localhost", "carol@localhost"


def tls_context():
    # The test server's certificate is self-signed for "localhost".
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def entry(title, ident):
    return ET.fromstring(
        f"<entry xmlns='{ATOM}'>"
        f"<title type='text'>{title}</title>"
        f"<id>{ident}</id>"
        "<published>2024-01-01T00:00:00Z</published>"
        "<updated>2024-01-01T00:00:00Z</updated>"
        "</entry>"
    )


def title_of(payload):
    if payload is None:
        return None
    t = payload.find(f"{{{ATOM}}}title")
    return None if t is None else t.text


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, interest=False):
        super().__init__(jid, "password", ssl_context=tls_context())
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0115")
        self.register_plugin("xep_0060")
        self.register_plugin("xep_0163")
        self.interest = interest
        self.events = asyncio.Queue()  # (kind, message)
        self.presences = asyncio.Queue()
        self.secure = False
        self.online = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("tls_success", self.on_tls)
        self.add_event_handler("pubsub_publish", lambda m: self.events.put_nowait(("publish", m)))
        self.add_event_handler("pubsub_retract", lambda m: self.events.put_nowait(("retract", m)))
        self.add_event_handler("presence_available", lambda p: self.presences.put_nowait(p))

    def on_tls(self, *_):
        self.secure = True

    async def on_start(self, _):
        if self.interest:
            # Adds urn:xmpp:microblog:0+notify to our disco#info and
            # recomputes the caps hash; wait for the new verstring so the
            # initial presence already advertises it.
            self.plugin["xep_0163"].add_interest(MICROBLOG)
            await self.plugin["xep_0115"].update_caps(broadcast=False)
        await self.get_roster()
        self.send_presence()
        self.online.set()

    async def start(self):
        self.connect(HOST, PORT)
        await asyncio.wait_for(self.online.wait(), STEP_TIMEOUT * 2)

    def pubsub(self):
        return self.plugin["xep_0060"]


async def iq(fut):
    """Await an IQ future (sent with timeout=STEP_TIMEOUT), bounded."""
    return await asyncio.wait_for(fut, STEP_TIMEOUT + 1)


async def expect(queue, what, pred=lambda _: True):
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} within {STEP_TIMEOUT}s")
        try:
            item = await asyncio.wait_for(queue.get(), left)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {STEP_TIMEOUT}s") from None
        if pred(item):
            return item


def event_items(msg, kind):
    """(node, [sub-elements of the wanted kind]) of a pubsub event message."""
    items = msg["pubsub_event"]["items"]
    name = "item" if kind == "publish" else "retract"
    return items["node"], [i for i in items if i.name == name]


def event_with(kind, sender, node, item_id):
    def pred(ev):
        k, msg = ev
        if k != kind or msg["from"].bare != sender:
            return False
        n, items = event_items(msg, kind)
        return n == node and any(i["id"] == item_id for i in items)

    return pred


def find_item(msg, kind, item_id):
    return next(i for i in event_items(msg, kind)[1] if i["id"] == item_id)


async def wait_roster(client, jid, states):
    for _ in range(STEP_TIMEOUT * 10):
        if client.client_roster[jid]["subscription"] in states:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"{client.boundjid.bare}'s roster item {jid}: "
        f"subscription={client.client_roster[jid]['subscription']!r}, want {states}"
    )


class State:
    alice = None
    bob = None
    bob2 = None
    carol = None


S = State()


async def check_login():
    S.alice = Client("alice@localhost/slix")
    S.bob = Client("bob@localhost/slix", interest=True)
    for c in (S.alice, S.bob):
        c.auto_authorize = True
        c.auto_subscribe = True
    await S.alice.start()
    await S.bob.start()
    assert S.alice.secure and S.bob.secure, "logins negotiated STARTTLS"


async def check_create_node():
    await iq(S.alice.pubsub().create_node(PUBSUB, NODE, timeout=STEP_TIMEOUT))


async def check_subscribe():
    res = await iq(S.bob.pubsub().subscribe(PUBSUB, NODE, timeout=STEP_TIMEOUT))
    sub = res["pubsub"]["subscription"]
    assert sub["subscription"] in ("subscribed", ""), f"subscription state {sub['subscription']!r}"
    if sub["jid"]:
        assert sub["jid"].bare == BOB, f"subscribed jid {sub['jid']}"


async def check_publish_event():
    payload = entry("interop item one", "one")
    await iq(S.alice.pubsub().publish(PUBSUB, NODE, id="one", payload=payload, timeout=STEP_TIMEOUT))
    _, msg = await expect(
        S.bob.events, "publish event for item one", event_with("publish", PUBSUB, NODE, "one")
    )
    got = title_of(find_item(msg, "publish", "one")["payload"])
    assert got == "interop item one", f"payload title {got!r}"


async def check_get_items():
    res = await iq(S.alice.pubsub().get_items(PUBSUB, NODE, timeout=STEP_TIMEOUT))
    items = list(res["pubsub"]["items"])
    ids = [i["id"] for i in items]
    assert "one" in ids, f"item ids {ids}"
    one = next(i for i in items if i["id"] == "one")
    publisher = one.xml.get("publisher")
    assert publisher == ALICE, f"publisher attribute {publisher!r}"
    got = title_of(one["payload"])
    assert got == "interop item one", f"payload title {got!r}"


async def check_retract():
    await iq(S.alice.pubsub().retract(PUBSUB, NODE, "one", notify=True, timeout=STEP_TIMEOUT))
    await expect(
        S.bob.events, "retract event for item one", event_with("retract", PUBSUB, NODE, "one")
    )


async def check_delete_node():
    await iq(S.alice.pubsub().delete_node(PUBSUB, NODE, timeout=STEP_TIMEOUT))


async def check_presence_subscription():
    S.alice.send_presence_subscription(pto=BOB)
    S.bob.send_presence_subscription(pto=ALICE)
    await wait_roster(S.alice, BOB, ("both",))
    await wait_roster(S.bob, ALICE, ("both",))


async def check_pep_notify():
    # Let the server finish querying bob's caps (disco#info) first.
    await asyncio.sleep(0.5)
    await iq(
        S.alice.pubsub().publish(
            None, MICROBLOG, id="entry-1", payload=entry("hello from slixmpp", "entry-1"),
            timeout=STEP_TIMEOUT,
        )
    )
    _, msg = await expect(
        S.bob.events, "PEP event from alice", event_with("publish", ALICE, MICROBLOG, "entry-1")
    )
    got = title_of(find_item(msg, "publish", "entry-1")["payload"])
    assert got == "hello from slixmpp", f"payload title {got!r}"


async def check_last_item_on_login():
    S.bob.disconnect()
    await asyncio.wait_for(S.bob.disconnected, STEP_TIMEOUT)
    await asyncio.sleep(0.3)
    S.bob2 = Client("bob@localhost/slix2", interest=True)
    S.bob2.auto_authorize = True
    await S.bob2.start()
    _, msg = await expect(
        S.bob2.events,
        "alice's last microblog item",
        event_with("publish", ALICE, MICROBLOG, "entry-1"),
    )
    got = title_of(find_item(msg, "publish", "entry-1")["payload"])
    assert got == "hello from slixmpp", f"payload title {got!r}"


async def check_explicit_subscription():
    S.carol = Client("carol@localhost/slix")
    await S.carol.start()
    assert S.carol.secure, "carol's login negotiated STARTTLS"
    res = await iq(S.carol.pubsub().subscribe(ALICE, MICROBLOG, timeout=STEP_TIMEOUT))
    state = res["pubsub"]["subscription"]["subscription"]
    assert state in ("subscribed", ""), f"subscription state {state!r}"
    await iq(
        S.alice.pubsub().publish(
            None, MICROBLOG, id="entry-2", payload=entry("second entry", "entry-2"),
            timeout=STEP_TIMEOUT,
        )
    )
    _, msg = await expect(
        S.carol.events, "carol's PEP event", event_with("publish", ALICE, MICROBLOG, "entry-2")
    )
    got = title_of(find_item(msg, "publish", "entry-2")["payload"])
    assert got == "second entry", f"payload title {got!r}"


async def check_items_retrieval():
    bob = S.bob2 or S.bob
    res = await iq(bob.pubsub().get_items(ALICE, MICROBLOG, timeout=STEP_TIMEOUT))
    ids = [i["id"] for i in res["pubsub"]["items"]]
    assert "entry-1" in ids and "entry-2" in ids, f"item ids {ids}"


CHECKS = [
    ("login over STARTTLS", check_login),
    ("pubsub create node", check_create_node),
    ("pubsub subscribe", check_subscribe),
    ("pubsub publish and event", check_publish_event),
    ("pubsub items with publisher", check_get_items),
    ("pubsub retract with notify", check_retract),
    ("pubsub delete node", check_delete_node),
    ("presence subscription both ways", check_presence_subscription),
    ("PEP event via caps +notify", check_pep_notify),
    ("PEP last item on coming online", check_last_item_on_login),
    ("PEP explicit subscription", check_explicit_subscription),
    ("PEP items retrieval", check_items_retrieval),
]


def describe(e):
    if isinstance(e, slixmpp.exceptions.IqError):
        err = e.iq["error"]
        return f"IQ error {err['type']}/{err['condition']} {err['text'] or ''}".strip()
    if isinstance(e, slixmpp.exceptions.IqTimeout):
        return "IQ timed out"
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return f"{type(e).__name__}: {e}"


async def main():
    passed = failed = 0
    end = time.monotonic() + RUN_TIMEOUT
    for name, check in CHECKS:
        left = min(CHECK_TIMEOUT, end - time.monotonic())
        try:
            if left <= 0:
                raise AssertionError("not run: overall time limit reached")
            await asyncio.wait_for(check(), left)
            print(f"PASS {name}", flush=True)
            passed += 1
        except Exception as e:  # report and go on
            print(f"FAIL {name}: {describe(e)}", flush=True)
            failed += 1
    for c in (S.alice, S.bob2, S.carol):
        if c is not None:
            c.disconnect()
    await asyncio.sleep(0.2)
    print(f"{passed} passed, {failed} failed", flush=True)
    return failed == 0


if __name__ == "__main__":
    try:
        ok = asyncio.run(asyncio.wait_for(main(), RUN_TIMEOUT + 5))
    except Exception as e:  # report and fail
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        ok = False
    sys.exit(0 if ok else 1)
