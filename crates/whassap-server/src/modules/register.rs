//! XEP-0077 in-band registration: account creation before authentication
//! (when enabled), password change and account removal in a session.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use crate::accounts::{self, AccountError};
use crate::core::{deliver, Addressee, Ctx, Hooks};
use crate::stanza::{self, stanza_type, text_element};
use crate::Server;
use crate::ServerConfig;

fn field(query: &Element, name: &str) -> Option<String> {
    query.get_child(name, ns::REGISTER).map(|e| e.text())
}

fn error_for(iq: &Element, e: &AccountError) -> Element {
    match e {
        AccountError::Taken(_) | AccountError::Reserved(_) => stanza::error(iq, "conflict"),
        AccountError::InvalidName(_) => stanza::error(iq, "jid-malformed"),
        AccountError::NotAllowed { .. } => stanza::error(iq, "not-acceptable"),
        AccountError::InvalidPassword | AccountError::InvalidDisplayName => {
            stanza::error(iq, "not-acceptable")
        }
        AccountError::NotFound(_) => stanza::error(iq, "item-not-found"),
        AccountError::Store(_) => stanza::error(iq, "internal-server-error"),
    }
}

/// Answer registration queries to the server in a session; announced
/// only when in-band registration is enabled. A query without `to` (the
/// user's own account) is the same query: XEP-0077's own example of
/// removing an account (§3.2, example 13) has none.
pub fn register(hooks: &mut Hooks, config: &ServerConfig) {
    if config.xmpp_registration {
        hooks.iq(Addressee::Host, "query", ns::REGISTER, in_session);
    } else {
        hooks.iq_unannounced(Addressee::Host, "query", ns::REGISTER, in_session);
    }
    hooks.iq_unannounced(Addressee::Own, "query", ns::REGISTER, in_session);
}

/// Registration before authentication.
pub async fn pre_auth(server: &Arc<Server>, iq: &Element, query: &Element) -> Element {
    match stanza_type(iq) {
        "get" => {
            let mut q = Element::bare("query", ns::REGISTER);
            q.append_child(text_element(
                "instructions",
                ns::REGISTER,
                "Choose a username and password.",
            ));
            q.append_child(Element::bare("username", ns::REGISTER));
            q.append_child(Element::bare("password", ns::REGISTER));
            stanza::iq_result(iq, Some(q))
        }
        "set" => {
            let (Some(user), Some(password)) = (field(query, "username"), field(query, "password"))
            else {
                return stanza::error(iq, "not-acceptable");
            };
            match accounts::sign_up(
                &server.store,
                &user,
                &password,
                server.config.scram_iterations,
                &server.config.username_policy,
            )
            .await
            {
                Ok(name) => {
                    tracing::info!(user = %name, "account registered in-band");
                    stanza::iq_result(iq, None)
                }
                Err(e) => error_for(iq, &e),
            }
        }
        _ => stanza::error(iq, "bad-request"),
    }
}

/// Registration queries from an authenticated session: password change, removal.
pub fn in_session(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let query = iq.get_child("query", ns::REGISTER)?.clone();
        let session = match ctx.own_session(&iq) {
            Ok(s) => s.clone(),
            Err(refused) => return Some(refused),
        };
        let user = session.username().to_string();
        match stanza_type(&iq) {
            "get" => {
                let mut q = Element::bare("query", ns::REGISTER);
                q.append_child(Element::bare("registered", ns::REGISTER));
                q.append_child(text_element("username", ns::REGISTER, &user));
                Some(stanza::iq_result(&iq, Some(q)))
            }
            "set" if query.get_child("remove", ns::REGISTER).is_some() => {
                if let Err(e) = accounts::delete(&ctx.server.store, &user).await {
                    return Some(error_for(&iq, &e));
                }
                ctx.server.forget_tokens(&user);
                ctx.server.pubsub.forget_service(session.bare());
                ctx.server
                    .cluster
                    .invalidate(crate::cluster::Invalidation::PubsubService {
                        service: session.bare().to_owned(),
                    });
                tracing::info!(%user, "account removed in-band");
                ctx.reply(stanza::iq_result(&iq, None)).await;
                deliver::end_sessions(&ctx.server, session.bare(), "not-authorized");
                None
            }
            "set" => {
                let password = field(&query, "password");
                let named = field(&query, "username");
                match (password, named) {
                    (Some(p), Some(n)) if n == user => {
                        match accounts::set_password(
                            &ctx.server.store,
                            &user,
                            &p,
                            ctx.server.config.scram_iterations,
                        )
                        .await
                        {
                            Ok(()) => Some(stanza::iq_result(&iq, None)),
                            Err(e) => Some(error_for(&iq, &e)),
                        }
                    }
                    _ => Some(stanza::error(&iq, "bad-request")),
                }
            }
            _ => Some(stanza::error(&iq, "bad-request")),
        }
    })
}
