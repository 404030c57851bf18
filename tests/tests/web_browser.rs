//! The web pages in real headless Chromium, driven over WebDriver
//! (chromedriver on an ephemeral port, fantoccini): sign up, set a status,
//! watch it arrive live (no reload) in a second browser's timeline, escaped
//! as text, while the author's XMPP client gets the bot's thank-you; the
//! author deletes it and it leaves the other timeline live too.
//!
//! With `WHASSAP_SCREENSHOTS=<dir>` (relative to the workspace root) the
//! test also writes screenshots of the main pages there as PNG files;
//! `docs/screenshots/` holds the committed ones. Without Chromium or
//! chromedriver the test is skipped loudly (a failure under
//! `WHASSAP_TEST_REQUIRE_INTEROP=1`, as `scripts/test.sh` sets).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use whassap_tests::rest::Api;
use whassap_tests::*;

/// How long the browser may take for anything (it shares two cores).
const BROWSER_WAIT: Duration = Duration::from_secs(30);
const BOT: &str = "whassap@localhost";

/// A program on the `PATH`, under any of these names.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(program: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + BROWSER_WAIT;
    loop {
        if let Ok(r) = reqwest::get(format!("{}/status", driver.url)).await {
            if r.status().is_success() {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new headless Chromium (its own profile, so its own cookies).
async fn browser(driver: &Driver, chromium: &Path, width: u32, height: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--window-size={width},{height}"),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Run a script in the page; its result.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// The texts of the statuses listed on the page, top first.
async fn listed(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "return Array.from(document.querySelectorAll('#statuses li.status p.text'))\
         .map(e => e.textContent)",
    )
    .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// Wait until `f` holds for the page, polling.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + BROWSER_WAIT;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .expect("typing");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

/// Where screenshots go, if anywhere.
fn screenshot_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WHASSAP_SCREENSHOTS").filter(|d| !d.is_empty())?;
    let dir = PathBuf::from(dir);
    let dir = if dir.is_absolute() {
        dir
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
    };
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    Some(dir)
}

/// Save what the browser shows as `dir/name.png`: the whole page at
/// `width`, or the first screen only with `height`.
async fn screenshot(c: &Client, dir: &Path, name: &str, width: u32, height: Option<u32>) {
    let height = match height {
        Some(h) => h,
        None => {
            c.set_window_size(width, 800).await.unwrap();
            let h = js(c, "return document.documentElement.scrollHeight").await;
            // The window's frame takes a little of its height.
            (h.as_u64().unwrap_or(1100) as u32 + 100).min(3000)
        }
    };
    c.set_window_size(width, height).await.unwrap();
    // Let the arrival animations settle.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// Fill the settings and post one more status, then photograph the main
/// pages. The reader comes back to the live timeline, not reloaded.
async fn take_screenshots(s: &TestServer, reader: &Client, writer: &Client, dir: &Path) {
    let base = format!("http://{}", s.http);
    writer.goto(&format!("{base}/settings")).await.unwrap();
    fill(writer, "#token-name", "my script").await;
    click(
        writer,
        "form[action='/settings/tokens'] button[type=submit]",
    )
    .await;
    writer.goto(&format!("{base}/settings")).await.unwrap();
    fill(writer, "#hook-url", "http://127.0.0.1:9/hooks/whassap").await;
    fill(writer, "#hook-users", "alice").await;
    click(
        writer,
        "form[action='/settings/webhooks'] button[type=submit]",
    )
    .await;
    writer.goto(&format!("{base}/")).await.unwrap();
    fill(
        writer,
        "#status-text",
        "Trying Whassap: this status just reached your browser, my XMPP client and a webhook, and nobody polled.",
    )
    .await;
    click(writer, "form[action='/statuses'] button[type=submit]").await;
    until("the new status", || async {
        listed(reader).await.len() == 5
    })
    .await;
    fill(writer, "#status-text", "Lunch at 1?").await;
    screenshot(writer, dir, "timeline", 1000, None).await;
    writer.goto(&format!("{base}/alice")).await.unwrap();
    screenshot(writer, dir, "user", 1000, None).await;
    writer.goto(&format!("{base}/settings")).await.unwrap();
    screenshot(writer, dir, "settings", 1000, None).await;
    reader.goto(&format!("{base}/")).await.unwrap();
    screenshot(reader, dir, "timeline-phone", 390, Some(844)).await;
    reader.set_window_size(1000, 1100).await.unwrap();
    reader.goto(&format!("{base}/")).await.unwrap();
    reader
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Css(".live:not([hidden])"))
        .await
        .expect("live again");
    js(reader, "window.notReloaded = true; return null").await;
}

/// A few statuses from others, so that the pages look lived in.
async fn neighbours(s: &TestServer) {
    let api = Api::new(s.http);
    for (user, name, text) in [
        (
            "bob",
            "Bob",
            "Reading XEP-0277. Turns out my XMPP client already speaks microblogs.",
        ),
        ("carol", "Carol Jones", "Coffee first, then the release ☕"),
        (
            "bob",
            "Bob",
            "Anyone at FOSDEM this year? Meet me at the XMPP stand.",
        ),
    ] {
        if api.get(&format!("/api/v1/users/{user}")).await.status == 404 {
            let a = api
                .call(
                    "POST",
                    "/api/v1/users",
                    &whassap_tests::rest::Cred::Anonymous,
                    Some(json!({"username": user, "password": PASSWORD, "display_name": name})),
                )
                .await;
            assert_eq!(a.status, 201);
        }
        let cred = whassap_tests::rest::Cred::Basic(user.into(), PASSWORD.into());
        api.post_status(&cred, text).await;
    }
}

#[tokio::test]
async fn a_status_set_in_one_browser_appears_live_in_another() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
        find_program(&["chromedriver"]),
    ) else {
        skip_interop(
            "web_browser",
            "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)",
        );
        return;
    };
    let s = TestServer::start_with(|c| c.webhooks.allow_private = true).await;
    neighbours(&s).await;
    let base = format!("http://{}", s.http);
    let shots = screenshot_dir();
    let driver = start_driver(&chromedriver).await;
    let reader = browser(&driver, &chromium, 1000, 1100).await;
    let writer = browser(&driver, &chromium, 1000, 1100).await;

    // The reader watches the public timeline; "live" shows once the
    // EventSource is open.
    reader.goto(&format!("{base}/")).await.unwrap();
    reader
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Css(".live:not([hidden])"))
        .await
        .expect("the timeline goes live");
    js(&reader, "window.notReloaded = true; return null").await;

    // The writer signs up.
    writer.goto(&format!("{base}/signup")).await.unwrap();
    fill(&writer, "#username", "alice").await;
    fill(&writer, "#display_name", "Alice").await;
    fill(&writer, "#password", PASSWORD).await;
    click(&writer, "form[action='/signup'] button[type=submit]").await;
    writer
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Css("#status-text"))
        .await
        .expect("logged in, with the status form");

    // Her XMPP client is online to get the bot's thanks.
    let mut xmpp = s.client("alice").await;
    go_online(&mut xmpp).await;

    let text = "Live from Chromium <b>not bold</b> & <script>alert(1)</script>";
    fill(&writer, "#status-text", text).await;
    let count = writer
        .find(Locator::Css("#status-counter"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, format!("{} / 280", text.chars().count()));
    click(&writer, "form[action='/statuses'] button[type=submit]").await;

    until("the status in the reader's timeline", || async {
        listed(&reader).await.first().map(String::as_str) == Some(text)
    })
    .await;
    assert_eq!(
        js(&reader, "return window.notReloaded === true").await,
        json!(true),
        "it arrived without a reload"
    );
    let markup = js(
        &reader,
        "return document.querySelector('#statuses li.status p.text').children.length",
    )
    .await;
    assert_eq!(markup, json!(0), "the text is text, not markup");
    assert_eq!(
        listed(&writer).await.first().map(String::as_str),
        Some(text)
    );

    let thanks = recv_matching(&mut xmpp, "the bot's thank-you", |m| {
        m.name() == "message" && m.attr("from") == Some(BOT)
    })
    .await;
    let body = thanks.get_child("body", "jabber:client").unwrap().text();
    assert!(body.starts_with("Thanks for setting your status"), "{body}");
    assert!(body.contains(text), "{body}");

    // The reader's counter caught up with the status event.
    until("the counter refreshed", || async {
        js(
            &reader,
            "return document.querySelector('[data-stat=statuses_pushed]').textContent",
        )
        .await
            == json!("4")
    })
    .await;

    let id = js(
        &reader,
        "return document.querySelector('#statuses li.status').dataset.id",
    )
    .await;
    let id = id.as_str().expect("the status's id").to_string();

    if let Some(dir) = &shots {
        take_screenshots(&s, &reader, &writer, dir).await;
    }

    // The author deletes it from its page; it leaves the reader's timeline.
    writer
        .goto(&format!("{base}/alice/statuses/{id}"))
        .await
        .unwrap();
    writer
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Css("form[action$='/delete'] button"))
        .await
        .expect("a delete button for the author");
    click(&writer, "form[action$='/delete'] button").await;
    until("the status gone from the reader's timeline", || async {
        !listed(&reader).await.iter().any(|t| t == text)
    })
    .await;
    assert_eq!(
        js(&reader, "return window.notReloaded === true").await,
        json!(true)
    );

    writer.close().await.unwrap();
    reader.close().await.unwrap();
}
