//! The OpenAPI 3 document of the REST API, generated from the handlers'
//! and types' annotations. Each handler describes its own answers; the
//! error answers that every operation of a kind can give are added here
//! (see [`StandardErrors`]), so that none is left out.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Response, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};
use whassap_server::statuses::{Author, Source, Status};

use super::error::{Code, ErrorBody, ErrorDetail};
use super::messages::{NewMessage, SentMessage};
use super::statuses::NewStatusBody;
use super::tokens::{CreatedToken, NewToken, Token};
use super::users::{NewUser, User};
use super::webhooks::{Delivery, DeliveryAttempt, DeliveryState, NewWebhook, UsersFilter, Webhook};
use super::{firehose, messages, statuses, tokens, users, webhooks};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// Adds the error answers that whole kinds of operations share, where the
/// handler does not describe them itself, all with the `ErrorBody` schema:
///
/// - 400 to every operation that takes parameters or a body (a parameter
///   or a header that does not parse, malformed JSON, a value of the wrong
///   type);
/// - 401 (with `WWW-Authenticate`) to every operation that needs
///   credentials;
/// - 413 to every operation that takes a body (over 64 KiB);
/// - 429 (with `Retry-After`) to every operation: the per-IP rate limit
///   applies to the whole API.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                standard_errors(operation);
            }
        }
    }
}

/// An error answer with the `ErrorBody` schema.
fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Make sure `operation` has an answer for `status`: the handler's own if it
/// describes one, else an error answer described as `description`; with
/// `header` added to it.
fn ensure(
    operation: &mut Operation,
    status: &str,
    description: &str,
    header: Option<(&str, Header)>,
) {
    let response = operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(error_response(description)));
    if let (RefOr::T(response), Some((name, header))) = (response, header) {
        response.headers.entry(name.to_string()).or_insert(header);
    }
}

/// Add the shared error answers that apply to `operation` (see
/// [`StandardErrors`]).
fn standard_errors(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if has_body || has_params {
        ensure(
            operation,
            "400",
            "Malformed JSON, a value of the wrong type, or a parameter or header that does not \
             parse",
            None,
        );
    }
    if secured {
        let mut challenge = Header::new(Object::with_type(Type::String));
        challenge.description = Some("The schemes accepted: Bearer and Basic".into());
        ensure(
            operation,
            "401",
            "No, malformed or wrong credentials; unknown or revoked token",
            Some(("WWW-Authenticate", challenge)),
        );
    }
    if has_body {
        ensure(operation, "413", "The body is over 64 KiB", None);
    }
    let mut retry_after = Header::new(Object::with_type(Type::Integer));
    retry_after.description = Some("Seconds to wait before trying again".into());
    ensure(
        operation,
        "429",
        "Over a rate limit (per client IP address, and per token or account)",
        Some(("Retry-After", retry_after)),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Whassap REST API",
        version = "1",
        description = "Statuses pushed over XMPP, and this JSON API for everything else. \
                       Errors are {\"error\": {\"code\", \"message\"}}."
    ),
    paths(
        users::create, users::show, users::statuses,
        tokens::create, tokens::list, tokens::delete,
        statuses::create, statuses::show, statuses::delete, statuses::timeline,
        firehose::stream,
        messages::send,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        document,
    ),
    components(schemas(
        Status, Author, Source, NewStatusBody, User, NewUser, Token, NewToken, CreatedToken,
        Webhook, NewWebhook, UsersFilter, Delivery, DeliveryAttempt, DeliveryState, ErrorBody, ErrorDetail, Code,
        NewMessage, SentMessage,
    )),
    modifiers(&Security, &StandardErrors),
    tags(
        (name = "users", description = "Accounts and their timelines"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "statuses", description = "Statuses and the public timeline"),
        (name = "firehose", description = "Every public status as Server-Sent Events"),
        (name = "messages", description = "The notifications API: IMs from the bot to users who accepted it"),
        (name = "webhooks", description = "Webhooks for new and deleted statuses, and their deliveries"),
        (name = "openapi", description = "This document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, as JSON.
///
/// utoipa (5.5) writes the fields of a Link Object in snake case
/// (`operation_id`); OpenAPI names them in camel case (`operationId`), and
/// tools that follow links (schemathesis' stateful tests, client
/// generators) ignore a link without them. They are renamed here.
pub fn openapi_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let links = doc
        .get_mut("paths")
        .and_then(|paths| paths.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(|responses| responses.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links"))
        .filter_map(|links| links.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(v) = link.remove(snake) {
                link.insert(camel.to_string(), v);
            }
        }
    }
    doc
}

/// This OpenAPI document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "openapi", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)),
)]
pub async fn document() -> Json<serde_json::Value> {
    static DOC: LazyLock<serde_json::Value> = LazyLock::new(openapi_json);
    Json(DOC.clone())
}
