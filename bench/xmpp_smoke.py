#!/usr/bin/env python3
"""Pre-flight check for bench/compare.sh, standard library only.

Logs in over a plaintext c2s connection with SASL PLAIN and with
SCRAM-SHA-1, binds a resource, then creates a node on the PubSub service,
publishes an item to it and deletes the node again.

    bench/xmpp_smoke.py HOST:PORT [--domain localhost] [--pubsub pubsub.localhost]
                        [--user bench0] [--password password] [--timeout 20]

Exit status 0 when everything worked; otherwise the failing step is printed.
"""

import argparse
import base64
import hashlib
import hmac
import os
import re
import socket
import sys
import time
import xml.etree.ElementTree as ET

NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner"


class Failure(Exception):
    pass


class Conn:
    """A tiny XMPP client: one socket, top-level elements parsed one by one."""

    def __init__(self, addr, domain, timeout):
        host, port = addr.rsplit(":", 1)
        self.domain = domain
        self.deadline = time.monotonic() + timeout
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.ids = 0

    def send(self, data):
        self.sock.sendall(data.encode())

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failure("timed out waiting for the server")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Failure("the server closed the connection; got so far: %r" % self.buf[-300:])
        self.buf += chunk

    def open_stream(self):
        """Send a stream header; return the <stream:features/> element."""
        self.send(
            "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xml:lang='en' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
            % self.domain
        )
        while True:
            m = re.search(rb"<(?:stream:)?stream\b[^>]*>", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                break
            self._fill()
        features = self.element()
        if not features.tag.endswith("}features"):
            raise Failure("expected stream features, got %s" % ET.tostring(features)[:300])
        return features

    def element(self):
        """Next complete top-level element of the stream (namespaces resolved)."""
        while True:
            el = self._try_parse()
            if el is not None:
                return el
            self._fill()

    def _try_parse(self):
        data = self.buf.lstrip()
        if not data.startswith(b"<"):
            return None
        if data.startswith(b"</stream:stream"):
            raise Failure("the server closed the stream")
        # Try every '>' as the end of the first element; wrap it so the
        # stream's namespace prefixes are declared.
        pos = 0
        while True:
            pos = data.find(b">", pos)
            if pos < 0:
                return None
            candidate = data[: pos + 1]
            wrapped = (
                b"<w xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
                + candidate
                + b"</w>"
            )
            try:
                root = ET.fromstring(wrapped)
            except ET.ParseError:
                pos += 1
                continue
            if len(root) == 1:
                self.buf = data[pos + 1:]
                return root[0]
            pos += 1

    def next_id(self):
        self.ids += 1
        return "s%d" % self.ids

    def iq(self, body_xml, to=None, kind="set"):
        """Send an iq and wait for its result; raise on an error reply."""
        iq_id = self.next_id()
        to_attr = " to='%s'" % to if to else ""
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (kind, iq_id, to_attr, body_xml))
        while True:
            el = self.element()
            if el.tag == "{jabber:client}iq" and el.get("id") == iq_id:
                if el.get("type") != "result":
                    raise Failure("iq %s failed: %s" % (body_xml[:80], ET.tostring(el)[:500]))
                return el
            # anything else (presence, messages, notifications) is ignored

    def close(self):
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self.sock.close()


def mechanisms(features):
    mechs = features.find("{%s}mechanisms" % NS_SASL)
    if mechs is None:
        raise Failure("no SASL mechanisms offered: %s" % ET.tostring(features)[:300])
    return [m.text for m in mechs.findall("{%s}mechanism" % NS_SASL)]


def sasl_result(conn):
    el = conn.element()
    if el.tag != "{%s}success" % NS_SASL:
        raise Failure("SASL failed: %s" % ET.tostring(el)[:300])
    return el


def auth_plain(conn, user, password):
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    conn.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, token))
    sasl_result(conn)


def auth_scram_sha1(conn, user, password):
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    conn.send(
        "<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
        % (NS_SASL, base64.b64encode(("n,," + first_bare).encode()).decode())
    )
    el = conn.element()
    if el.tag != "{%s}challenge" % NS_SASL:
        raise Failure("expected a SCRAM challenge, got %s" % ET.tostring(el)[:300])
    server_first = base64.b64decode(el.text or "").decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(nonce):
        raise Failure("server nonce does not extend ours")
    salt = base64.b64decode(attrs["s"])
    iterations = int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).digest()
    final_bare = "c=biws,r=%s" % attrs["r"]
    auth_message = ",".join([first_bare, server_first, final_bare]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = "%s,p=%s" % (final_bare, base64.b64encode(proof).decode())
    conn.send(
        "<response xmlns='%s'>%s</response>" % (NS_SASL, base64.b64encode(final.encode()).decode())
    )
    success = sasl_result(conn)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha1).digest()).decode()
    verifier = base64.b64decode(success.text or "").decode()
    if verifier != "v=" + expected:
        raise Failure("bad SCRAM server signature %r" % verifier)
    return iterations


def login(args, mechanism):
    conn = Conn(args.addr, args.domain, args.timeout)
    features = conn.open_stream()
    offered = mechanisms(features)
    if mechanism not in offered:
        raise Failure("%s not offered (offered: %s)" % (mechanism, ", ".join(offered)))
    extra = ""
    if mechanism == "PLAIN":
        auth_plain(conn, args.user, args.password)
    else:
        extra = " (%d iterations)" % auth_scram_sha1(conn, args.user, args.password)
    conn.buf = b""
    features = conn.open_stream()
    if features.find("{%s}bind" % NS_BIND) is None:
        raise Failure("no resource binding offered after SASL")
    res = conn.iq("<bind xmlns='%s'><resource>smoke</resource></bind>" % NS_BIND)
    jid = res.find("{%s}bind/{%s}jid" % (NS_BIND, NS_BIND))
    print("ok  %-12s logged in as %s%s" % (mechanism, jid.text if jid is not None else "?", extra))
    return conn


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("addr")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--pubsub", default="pubsub.localhost")
    p.add_argument("--user", default="bench0")
    p.add_argument("--password", default="password")
    p.add_argument("--timeout", type=float, default=20.0)
    args = p.parse_args()
    try:
        login(args, "PLAIN").close()
        conn = login(args, "SCRAM-SHA-1")
        conn.send("<presence/>")
        node = "smoke-%d-%d" % (os.getpid(), int(time.time()))
        conn.iq("<pubsub xmlns='%s'><create node='%s'/></pubsub>" % (NS_PUBSUB, node), to=args.pubsub)
        print("ok  create       node %s on %s" % (node, args.pubsub))
        res = conn.iq(
            "<pubsub xmlns='%s'><publish node='%s'><item id='i1'>"
            "<entry xmlns='http://www.w3.org/2005/Atom'><title>smoke</title></entry>"
            "</item></publish></pubsub>" % (NS_PUBSUB, node),
            to=args.pubsub,
        )
        print("ok  publish      item i1 (%d bytes of reply)" % len(ET.tostring(res)))
        conn.iq("<pubsub xmlns='%s'><delete node='%s'/></pubsub>" % (NS_PUBSUB_OWNER, node), to=args.pubsub)
        print("ok  delete       node %s" % node)
        conn.close()
    except (Failure, OSError) as e:
        print("FAILED against %s: %s" % (args.addr, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
