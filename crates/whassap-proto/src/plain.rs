//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

/// A malformed PLAIN message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed PLAIN message: {0}")]
pub struct PlainError(&'static str);

/// Split a PLAIN message into (authzid, authcid, password).
pub fn parse(msg: &[u8]) -> Result<(Option<String>, String, String), PlainError> {
    let text = std::str::from_utf8(msg).map_err(|_| PlainError("not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError("expected three NUL-separated fields"));
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(PlainError("empty username or password"));
    }
    let authzid = (!authzid.is_empty()).then(|| authzid.to_string());
    Ok((authzid, authcid.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_authzid() {
        assert_eq!(
            parse(b"\0tim\0tanstaaftanstaaf").unwrap(),
            (None, "tim".into(), "tanstaaftanstaaf".into())
        );
        assert_eq!(
            parse(b"Ursel\0Kurt\0xipj3plmq").unwrap(),
            (Some("Ursel".into()), "Kurt".into(), "xipj3plmq".into())
        );
        assert!(parse(b"\0tim").is_err());
        assert!(parse(b"\0\0pw").is_err());
        assert!(parse(b"a\0b\0c\0d").is_err());
        assert!(parse(b"\0\xff\0pw").is_err());
    }
}
