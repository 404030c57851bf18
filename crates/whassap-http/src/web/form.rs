//! Form bodies (`application/x-www-form-urlencoded`) as a map of fields:
//! a missing field reads as empty, so each handler validates what it needs
//! and re-renders its form with a message.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use super::error::WebError;

/// The fields of a submitted form (the first value of each name).
#[derive(Debug, Default)]
pub struct FormData(HashMap<String, String>);

impl FormData {
    /// Parse an urlencoded body.
    pub fn parse(body: &[u8]) -> FormData {
        let mut fields = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        FormData(fields)
    }

    /// A field's value, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                WebError::too_large(format!(
                    "The form is over {} KiB.",
                    crate::api::extract::MAX_BODY / 1024
                ))
            } else {
                WebError::bad_request("The form could not be read.")
            }
        })?;
        Ok(FormData::parse(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::FormData;

    #[test]
    fn fields_are_decoded_and_the_first_value_wins() {
        let f = FormData::parse(b"text=a+%3Cb%3E%0D%0Ac&csrf=x&csrf=y");
        assert_eq!(f.get("text"), "a <b>\r\nc");
        assert_eq!(f.get("csrf"), "x");
        assert_eq!(f.get("missing"), "");
    }
}
