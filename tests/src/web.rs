//! A browser-like client for the web pages: reqwest with a cookie store,
//! redirects not followed (tests look at them), and the CSRF token of a
//! page's forms read from its HTML.

use std::net::SocketAddr;

/// One visitor of one server's pages, with its own cookies.
pub struct Web {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client (cookie store on, no redirects).
    pub http: reqwest::Client,
}

/// A page as answered.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// The HTML (or whatever the body is).
    pub body: String,
}

impl Page {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of the first hidden `csrf` field of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in the page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("end of the value") + start;
        self.body[start..end].to_string()
    }

    /// Whether the page contains this text (as written in the HTML).
    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

impl Web {
    /// A new visitor (no cookies yet).
    pub fn new(http: SocketAddr) -> Web {
        Web {
            base: format!("http://{http}"),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
        }
    }

    async fn page(resp: reqwest::Response) -> Page {
        Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.expect("body"),
        }
    }

    /// GET a page.
    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        Self::page(resp).await
    }

    /// POST a form.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST");
        Self::page(resp).await
    }

    /// GET `page`, then POST `fields` and its CSRF token to `action`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf", &token));
        self.post(action, &all).await
    }

    /// Sign up through the form (with [`crate::PASSWORD`]); logged in after.
    pub async fn sign_up(&self, name: &str) -> Page {
        let p = self
            .submit(
                "/signup",
                "/signup",
                &[("username", name), ("password", crate::PASSWORD)],
            )
            .await;
        assert_eq!(p.status, 303, "sign-up of {name}: {}", p.body);
        p
    }

    /// Log in through the form.
    pub async fn log_in(&self, name: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", name), ("password", password)],
        )
        .await
    }

    /// Set a status through the timeline's form.
    pub async fn set_status(&self, text: &str) -> Page {
        self.submit("/", "/statuses", &[("text", text)]).await
    }
}
