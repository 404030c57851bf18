//! A small REST client for the integration tests: real HTTP over reqwest.

use std::net::SocketAddr;

use serde_json::Value;

/// Talks to one server's `/api/v1`.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Cred {
    /// None.
    Anonymous,
    /// HTTP Basic.
    Basic(String, String),
    /// A personal access token.
    Bearer(String),
}

/// An answer: status, headers and the body parsed as JSON (Null if empty).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON body (or Null).
    pub json: Value,
}

impl Answer {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The URL of a `Link` relation, as path and query (the host in links
    /// is the configured public URL).
    pub fn link(&self, rel: &str) -> Option<String> {
        let links = self.header("link")?;
        links.split(", ").find_map(|l| {
            let (url, params) = l.split_once(">; ")?;
            if params != format!("rel=\"{rel}\"") {
                return None;
            }
            let url = url.trim_start_matches('<');
            let path = url.find("/api/").map(|i| &url[i..])?;
            Some(path.to_string())
        })
    }
}

impl Api {
    /// For a server's HTTP address.
    pub fn new(http: SocketAddr) -> Api {
        Api {
            base: format!("http://{http}"),
            http: reqwest::Client::new(),
        }
    }

    /// Send a request with an optional raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        cred: &Cred,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        req = match cred {
            Cred::Anonymous => req,
            Cred::Basic(u, p) => req.basic_auth(u, Some(p)),
            Cred::Bearer(t) => req.bearer_auth(t),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("HTTP body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            headers,
            json,
        }
    }

    /// Send JSON (or nothing).
    pub async fn call(&self, method: &str, path: &str, cred: &Cred, body: Option<Value>) -> Answer {
        self.raw(
            method,
            path,
            cred,
            body.map(|b| b.to_string().into_bytes()),
            &[],
        )
        .await
    }

    /// GET without credentials.
    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, &Cred::Anonymous, None).await
    }

    /// Sign up `name` with [`crate::PASSWORD`]; the Basic credentials.
    pub async fn sign_up(&self, name: &str) -> Cred {
        let a = self
            .call(
                "POST",
                "/api/v1/users",
                &Cred::Anonymous,
                Some(serde_json::json!({"username": name, "password": crate::PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 201, "sign-up of {name}: {:?}", a.json);
        Cred::Basic(name.into(), crate::PASSWORD.into())
    }

    /// A new personal access token for Basic credentials.
    pub async fn token(&self, basic: &Cred) -> Cred {
        let a = self
            .call(
                "POST",
                "/api/v1/tokens",
                basic,
                Some(serde_json::json!({"name": "test"})),
            )
            .await;
        assert_eq!(a.status, 201, "token: {:?}", a.json);
        Cred::Bearer(a.json["token"].as_str().expect("token").to_string())
    }

    /// Post a status; its JSON.
    pub async fn post_status(&self, cred: &Cred, text: &str) -> Value {
        let a = self
            .call(
                "POST",
                "/api/v1/statuses",
                cred,
                Some(serde_json::json!({ "text": text })),
            )
            .await;
        assert_eq!(a.status, 201, "post {text:?}: {:?}", a.json);
        a.json
    }
}
