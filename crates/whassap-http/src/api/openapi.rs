//! The OpenAPI 3 document of the REST API, generated from the handlers'
//! and types' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use whassap_server::statuses::{Author, Source, Status};

use super::error::{Code, ErrorBody, ErrorDetail};
use super::statuses::NewStatusBody;
use super::tokens::{CreatedToken, NewToken, Token};
use super::users::{NewUser, User};
use super::webhooks::{Delivery, DeliveryAttempt, DeliveryState, NewWebhook, UsersFilter, Webhook};
use super::{firehose, statuses, tokens, users, webhooks};

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
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
    ),
    components(schemas(
        Status, Author, Source, NewStatusBody, User, NewUser, Token, NewToken, CreatedToken,
        Webhook, NewWebhook, UsersFilter, Delivery, DeliveryAttempt, DeliveryState, ErrorBody, ErrorDetail, Code,
    )),
    modifiers(&Security),
    tags(
        (name = "users", description = "Accounts and their timelines"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "statuses", description = "Statuses and the public timeline"),
        (name = "firehose", description = "Every public status as Server-Sent Events"),
        (name = "webhooks", description = "Webhooks for new and deleted statuses, and their deliveries"),
    )
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
