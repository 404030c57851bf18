//! The one table of handlers, filled by each module's `register` function
//! (listed once, in `modules::register_all`), as Prosody's modules hook
//! events of their host. The router and the IQ dispatcher look handlers up
//! here; disco#info features and identities are derived from it, so what is
//! announced is what is handled.
//!
//! A feature is one file with a `register` function and one line in
//! `modules::register_all`:
//!
//! ```
//! use futures::future::BoxFuture;
//! use minidom::Element;
//! use whassap_server::core::{Addressee, Ctx, Hooks};
//! use whassap_server::stanza;
//!
//! /// XEP-0202 entity time, in outline.
//! pub fn register(hooks: &mut Hooks) {
//!     hooks.iq(Addressee::Host, "time", "urn:xmpp:time", handle);
//! }
//!
//! fn handle(_ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
//!     Box::pin(async move { Some(stanza::iq_result(&iq, None)) })
//! }
//!
//! let mut hooks = Hooks::default();
//! register(&mut hooks);
//! assert!(hooks.iq_handler(Addressee::Host, "time", "urn:xmpp:time").is_some());
//! assert!(hooks.features(Addressee::Host).contains(&"urn:xmpp:time".to_string()));
//! ```

use futures::future::BoxFuture;
use minidom::Element;

use super::ctx::Ctx;

/// Whom an IQ request is addressed to, as the dispatcher classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    /// The server's domain.
    Host,
    /// The sender's own account (no `to`, or its own bare JID), from one of
    /// its client sessions.
    Own,
    /// A local account's bare JID, from anyone else: answered by the server
    /// on the account's behalf.
    Account,
    /// The PubSub service, `pubsub.<domain>`.
    Service,
}

/// Which message or presence stanzas a stanza handler takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Sent by a local client, before routing (its door stamped `from`).
    Outbound,
    /// Arriving for a local account that exists and does not block the
    /// sender (`to` is the account's bare or full JID).
    Inbound,
}

/// The kind of a non-IQ stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<message/>`.
    Message,
    /// `<presence/>`.
    Presence,
}

/// An IQ `get`/`set` handler: the answer to send back, or None when it sent
/// what it had to itself (through [`Ctx::reply`]).
pub type IqHandler = fn(Ctx, Element) -> BoxFuture<'static, Option<Element>>;

/// A handler of a stanza that is not answered by return: messages,
/// presence, IQ results and errors.
pub type StanzaHandler = fn(Ctx, Element) -> BoxFuture<'static, ()>;

/// A check of every stanza a local client sends, before it is handled.
pub type OutboundFilter = for<'a> fn(&'a Ctx, &'a Element) -> BoxFuture<'a, super::Verdict>;

/// A handler of a session event.
pub type SessionHandler = fn(Ctx) -> BoxFuture<'static, ()>;

struct IqHook {
    addressee: Addressee,
    name: &'static str,
    ns: &'static str,
    handler: IqHandler,
    announced: bool,
}

/// Every handler of the server, by what it handles.
#[derive(Default)]
pub struct Hooks {
    iq: Vec<IqHook>,
    answers: Vec<(Addressee, &'static str, &'static str, StanzaHandler)>,
    stanzas: Vec<(Kind, Flow, StanzaHandler)>,
    entities: Vec<(&'static str, StanzaHandler)>,
    features: Vec<(Addressee, String)>,
    identities: Vec<(Addressee, Identity)>,
    session_ended: Vec<SessionHandler>,
    outbound_filters: Vec<OutboundFilter>,
}

/// A XEP-0030 identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `category`.
    pub category: &'static str,
    /// `type`.
    pub kind: &'static str,
    /// `name`, if any.
    pub name: Option<&'static str>,
}

impl Hooks {
    /// Handle IQ requests to `addressee` whose payload is `<name xmlns=ns>`,
    /// and announce `ns` in disco#info (of the host for [`Addressee::Host`]
    /// and [`Addressee::Own`], of accounts for [`Addressee::Account`]).
    pub fn iq(&mut self, addressee: Addressee, name: &'static str, ns: &'static str, h: IqHandler) {
        self.add_iq(addressee, name, ns, h, true);
    }

    /// As [`iq`](Self::iq), without announcing the namespace (legacy
    /// requests, or a feature announced in detail with
    /// [`feature`](Self::feature)).
    pub fn iq_unannounced(
        &mut self,
        addressee: Addressee,
        name: &'static str,
        ns: &'static str,
        h: IqHandler,
    ) {
        self.add_iq(addressee, name, ns, h, false);
    }

    fn add_iq(
        &mut self,
        addressee: Addressee,
        name: &'static str,
        ns: &'static str,
        handler: IqHandler,
        announced: bool,
    ) {
        debug_assert!(
            self.iq_handler(addressee, name, ns).is_none(),
            "{name} {ns} registered twice for {addressee:?}"
        );
        self.iq.push(IqHook {
            addressee,
            name,
            ns,
            handler,
            announced,
        });
    }

    /// Handle IQ results and errors sent to `addressee` carrying
    /// `<name xmlns=ns>` (answers to what a module asked).
    pub fn iq_answer(
        &mut self,
        addressee: Addressee,
        name: &'static str,
        ns: &'static str,
        h: StanzaHandler,
    ) {
        self.answers.push((addressee, name, ns, h));
    }

    /// Handle messages or presence stanzas of one flow.
    pub fn stanza(&mut self, kind: Kind, flow: Flow, h: StanzaHandler) {
        self.stanzas.push((kind, flow, h));
    }

    /// Serve the local JID `localpart@<domain>` entirely (every stanza to
    /// it goes to `h`): for service accounts such as the status bot.
    pub fn entity(&mut self, localpart: &'static str, h: StanzaHandler) {
        self.entities.push((localpart, h));
    }

    /// Announce a feature that has no IQ of its own (or is announced in
    /// more detail than its namespace).
    pub fn feature(&mut self, addressee: Addressee, var: impl Into<String>) {
        self.features.push((addressee, var.into()));
    }

    /// Announce an identity.
    pub fn identity(&mut self, addressee: Addressee, identity: Identity) {
        self.identities.push((addressee, identity));
    }

    /// Check every stanza a local client sends with `f` first.
    pub fn outbound_filter(&mut self, f: OutboundFilter) {
        self.outbound_filters.push(f);
    }

    /// The outbound filters, in registration order.
    pub fn outbound_filters(&self) -> impl Iterator<Item = OutboundFilter> + '_ {
        self.outbound_filters.iter().copied()
    }

    /// Run `h` when a client session has ended (after it left the registry).
    pub fn on_session_ended(&mut self, h: SessionHandler) {
        self.session_ended.push(h);
    }

    /// The handler of an IQ request.
    pub fn iq_handler(&self, addressee: Addressee, name: &str, ns: &str) -> Option<IqHandler> {
        self.iq
            .iter()
            .find(|h| h.addressee == addressee && h.name == name && h.ns == ns)
            .map(|h| h.handler)
    }

    /// The handler of an IQ result or error.
    pub fn answer_handler(
        &self,
        addressee: Addressee,
        name: &str,
        ns: &str,
    ) -> Option<StanzaHandler> {
        self.answers
            .iter()
            .find(|(a, n, s, _)| *a == addressee && *n == name && *s == ns)
            .map(|(_, _, _, h)| *h)
    }

    /// The handlers of a kind of stanza in one flow, in registration order.
    pub fn stanza_handlers(
        &self,
        kind: Kind,
        flow: Flow,
    ) -> impl Iterator<Item = StanzaHandler> + '_ {
        self.stanzas
            .iter()
            .filter(move |(k, f, _)| *k == kind && *f == flow)
            .map(|(_, _, h)| *h)
    }

    /// The handler serving a local JID entirely, if a module does.
    pub fn entity_handler(&self, localpart: &str) -> Option<StanzaHandler> {
        self.entities
            .iter()
            .find(|(l, _)| *l == localpart)
            .map(|(_, h)| *h)
    }

    /// The session-ended handlers.
    pub fn session_ended_handlers(&self) -> impl Iterator<Item = SessionHandler> + '_ {
        self.session_ended.iter().copied()
    }

    /// The disco#info features of an addressee, sorted, without repeats.
    /// The host announces what it handles for itself and for its users'
    /// own accounts; an account, what others may ask it.
    pub fn features(&self, addressee: Addressee) -> Vec<String> {
        let covers = |a: Addressee| match addressee {
            Addressee::Host => matches!(a, Addressee::Host | Addressee::Own),
            other => a == other,
        };
        let mut out: Vec<String> = self
            .iq
            .iter()
            .filter(|h| h.announced && covers(h.addressee))
            .map(|h| h.ns.to_string())
            .chain(
                self.features
                    .iter()
                    .filter(|(a, _)| *a == addressee)
                    .map(|(_, f)| f.clone()),
            )
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The disco#info identities of an addressee, in registration order.
    pub fn identities(&self, addressee: Addressee) -> impl Iterator<Item = &Identity> + '_ {
        self.identities
            .iter()
            .filter(move |(a, _)| *a == addressee)
            .map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: Ctx, _: Element) -> BoxFuture<'static, Option<Element>> {
        Box::pin(async { None })
    }

    #[test]
    fn features_follow_what_is_registered() {
        let mut h = Hooks::default();
        h.iq(Addressee::Host, "ping", "urn:xmpp:ping", nothing);
        h.iq(Addressee::Own, "ping", "urn:xmpp:ping", nothing);
        h.iq(Addressee::Own, "query", "jabber:iq:roster", nothing);
        h.iq_unannounced(Addressee::Own, "session", "legacy", nothing);
        h.iq(Addressee::Account, "query", "disco", nothing);
        h.feature(Addressee::Host, "msgoffline");
        assert_eq!(
            h.features(Addressee::Host),
            ["jabber:iq:roster", "msgoffline", "urn:xmpp:ping"]
        );
        assert_eq!(h.features(Addressee::Account), ["disco"]);
        assert!(h.iq_handler(Addressee::Own, "session", "legacy").is_some());
        assert!(h
            .iq_handler(Addressee::Account, "ping", "urn:xmpp:ping")
            .is_none());
    }
}
