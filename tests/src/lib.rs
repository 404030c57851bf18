//! Test support: [`TestServer`] starts the real server in-process on
//! ephemeral ports with a temporary data dir; helpers connect real clients.

pub mod peers;
pub mod relay;
pub mod rest;
pub mod sse;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use whassap::config::Config;
use whassap::App;
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};

/// Password of every account made by [`TestServer::user`].
pub const PASSWORD: &str = "password";
/// How long a test waits for something that should arrive.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running server with its own data dir.
pub struct TestServer {
    app: Option<App>,
    dir: tempfile::TempDir,
    /// The PostgreSQL database of this server, when the suite runs on one.
    database: Option<Arc<whassap_store::testing::TempDatabase>>,
    config: Config,
    /// STARTTLS c2s address.
    pub c2s: SocketAddr,
    /// Direct TLS c2s address.
    pub c2s_tls: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// s2s address, when federation is on.
    pub s2s: Option<SocketAddr>,
}

fn test_config(dir: &std::path::Path) -> Config {
    Config {
        domain: "localhost".into(),
        data_dir: dir.to_path_buf(),
        c2s_listen: "127.0.0.1:0".into(),
        c2s_tls_listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        // Federation is off unless a test turns it on (tests/tests/federation.rs).
        s2s_listen: String::new(),
        log: "warn".into(),
        ..Config::default()
    }
}

impl TestServer {
    /// Start with the defaults (TLS required), on ephemeral ports.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Start with changed settings.
    ///
    /// With `WHASSAP_TEST_DATABASE=postgres` (and `WHASSAP_TEST_POSTGRES`,
    /// see [`whassap_store::testing`]) the server's store is a fresh
    /// PostgreSQL database instead of SQLite in the data dir: the whole
    /// suite runs once more that way in `scripts/test.sh`.
    pub async fn start_with(change: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let database = match on_postgres() {
            true => whassap_store::testing::TempDatabase::create("integration")
                .await
                .map(Arc::new),
            false => None,
        };
        if let Some(db) = &database {
            config.database = db.url.clone();
        }
        change(&mut config);
        Self::launch(dir, database, config).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        database: Option<Arc<whassap_store::testing::TempDatabase>>,
        config: Config,
    ) -> TestServer {
        let app = App::start(&config).await.expect("server starts");
        assert_eq!(
            app.server.store.dialect() == whassap_store::Dialect::Postgres,
            database.is_some() || config.postgres_url().is_some(),
            "the server runs on the database the suite chose"
        );
        TestServer {
            c2s: app.c2s_addr.expect("c2s listener"),
            c2s_tls: app.c2s_tls_addr.expect("direct TLS listener"),
            http: app.http_addr.expect("http listener"),
            s2s: app.s2s_addr,
            app: Some(app),
            dir,
            database,
            config,
        }
    }

    /// The running app.
    pub fn app(&self) -> &App {
        self.app.as_ref().expect("running")
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Create an account with [`PASSWORD`].
    pub async fn user(&self, name: &str) {
        self.user_with_password(name, PASSWORD).await;
    }

    /// Create an account.
    pub async fn user_with_password(&self, name: &str, password: &str) {
        whassap_server::accounts::add(&self.app().server.store, name, password, 4096)
            .await
            .expect("account created");
    }

    /// Connection options for `user` over STARTTLS with SCRAM-SHA-256.
    pub fn options(&self, user: &str) -> ConnectOptions {
        ConnectOptions {
            addr: self.c2s,
            domain: self.config.domain.clone(),
            username: user.into(),
            password: PASSWORD.into(),
            resource: None,
            tls: TlsMode::StartTls,
            mechanism: Mechanism::ScramSha256,
            accept_invalid_certs: true,
            timeout: WAIT,
            source_addr: None,
            scram_cache: None,
        }
    }

    /// A connected, bound client for `user` (resource chosen by the server).
    pub async fn client(&self, user: &str) -> Client {
        Client::connect(self.options(user))
            .await
            .expect("client connects")
    }

    /// A connected client with a given resource.
    pub async fn client_with_resource(&self, user: &str, resource: &str) -> Client {
        let mut o = self.options(user);
        o.resource = Some(resource.into());
        Client::connect(o).await.expect("client connects")
    }

    /// Stop gracefully and start again on the same data dir (new ports).
    pub async fn restart(self) -> TestServer {
        self.restart_with(|_| {}).await
    }

    /// Stop gracefully and start again on the same data dir with changed
    /// settings (new ports).
    pub async fn restart_with(mut self, change: impl FnOnce(&mut Config)) -> TestServer {
        let app = self.app.take().expect("running");
        app.shutdown().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        let mut config = self.config.clone();
        change(&mut config);
        Self::launch(dir, self.database.take(), config).await
    }

    /// Stop gracefully.
    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

/// A port free on `ip` now (bound and released): for servers that must
/// know each other's s2s address before either starts.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Two federated servers, `a.test` on 127.0.0.2 and `b.test` on
/// 127.0.0.3, with static routes to each other and `change` applied to
/// both (after the federation settings).
pub async fn federated_pair(change: impl Fn(&mut Config)) -> (TestServer, TestServer) {
    let (pa, pb) = (free_port("127.0.0.2"), free_port("127.0.0.3"));
    // Each domain's PubSub service is its own XMPP domain: it needs a
    // route (or DNS records) of its own.
    let routes = vec![
        format!("a.test=127.0.0.2:{pa}"),
        format!("pubsub.a.test=127.0.0.2:{pa}"),
        format!("b.test=127.0.0.3:{pb}"),
        format!("pubsub.b.test=127.0.0.3:{pb}"),
    ];
    let config = |domain: &str, listen: String| {
        let routes = routes.clone();
        let domain = domain.to_string();
        let change = &change;
        move |c: &mut Config| {
            c.domain = domain;
            c.s2s_listen = listen;
            c.s2s_route = routes;
            c.s2s_timeout_secs = 5;
            change(c);
        }
    };
    let a = TestServer::start_with(config("a.test", format!("127.0.0.2:{pa}"))).await;
    let b = TestServer::start_with(config("b.test", format!("127.0.0.3:{pb}"))).await;
    (a, b)
}

/// Parse XML written in a test.
pub fn xml(s: &str) -> Element {
    let root_end = s.find('>').expect("an element");
    let with_ns = if s[..root_end].contains("xmlns=") {
        s.to_string()
    } else if s[..root_end].ends_with('/') {
        format!(
            "{} xmlns='jabber:client'/>{}",
            &s[..root_end - 1],
            &s[root_end + 1..]
        )
    } else {
        format!(
            "{} xmlns='jabber:client'>{}",
            &s[..root_end],
            &s[root_end + 1..]
        )
    };
    with_ns
        .parse()
        .unwrap_or_else(|e| panic!("bad test XML {s}: {e}"))
}

/// Send available presence and read its echo.
pub async fn go_online(c: &mut Client) {
    c.send(&xml("<presence/>")).await.expect("presence sent");
    let echo = recv_named(c, "presence").await;
    assert_eq!(
        echo.attr("from"),
        Some(c.jid()),
        "own presence echoed: {echo:?}"
    );
}

/// Fetch the roster (a result, or the test fails).
pub async fn get_roster(c: &mut Client) -> Element {
    let r = c
        .iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    assert_eq!(r.attr("type"), Some("result"));
    r
}

/// alice and bob subscribe to each other and are both online.
pub async fn befriended(s: &TestServer) -> (Client, Client) {
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    // Like real clients: fetch the roster, then go online. Only resources
    // that asked for the roster get `subscribed` (RFC 6121 §3.1.6).
    get_roster(&mut a).await;
    get_roster(&mut b).await;
    go_online(&mut a).await;
    go_online(&mut b).await;
    a.send(&xml("<presence to='bob@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    recv_matching(&mut b, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    b.send(&xml("<presence to='alice@localhost' type='subscribed'/>"))
        .await
        .unwrap();
    recv_matching(&mut a, "subscribed", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    b.send(&xml("<presence to='alice@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    recv_matching(&mut a, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    a.send(&xml("<presence to='bob@localhost' type='subscribed'/>"))
        .await
        .unwrap();
    recv_matching(&mut b, "subscribed", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    // Drain what remains of the handshake.
    while a
        .recv_timeout(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {}
    while b
        .recv_timeout(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {}
    (a, b)
}

/// Available presence with caps that verify to a feature list with
/// `urn:xmpp:microblog:0+notify`, answering the PEP service's caps query.
pub async fn advertise_microblog(c: &mut Client) {
    use base64::Engine;
    let mut features = [
        "http://jabber.org/protocol/caps".to_string(),
        "http://jabber.org/protocol/disco#info".to_string(),
        "urn:xmpp:microblog:0+notify".to_string(),
    ];
    features.sort();
    let s = format!("client/pc//test<{}<", features.join("<"));
    let ver = base64::engine::general_purpose::STANDARD
        .encode(<sha1::Sha1 as sha1::Digest>::digest(s.as_bytes()));
    c.send(&xml(&format!("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/t' ver='{ver}'/></presence>"))).await.unwrap();
    while let Some(q) = c.recv_timeout(Duration::from_secs(1)).await.unwrap() {
        if q.name() == "iq" && q.attr("type") == Some("get") {
            let feats: String = features
                .iter()
                .map(|f| format!("<feature var='{f}'/>"))
                .collect();
            let answer = format!("<iq type='result' id='{}' to='{}'><query xmlns='http://jabber.org/protocol/disco#info' node='https://example.org/t#{ver}'><identity category='client' type='pc' name='test'/>{feats}</query></iq>", q.attr("id").unwrap(), q.attr("from").unwrap());
            c.send_raw(answer.as_bytes()).await.unwrap();
        }
    }
}

/// `x` subscribes to `y`'s presence and `y` approves.
pub async fn subscribe(x: &mut Client, y: &mut Client, xj: &str, yj: &str) {
    x.send(&xml(&format!("<presence to='{yj}' type='subscribe'/>")))
        .await
        .unwrap();
    recv_matching(y, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    y.send(&xml(&format!("<presence to='{xj}' type='subscribed'/>")))
        .await
        .unwrap();
    recv_matching(x, "subscribed", |e| e.attr("type") == Some("subscribed")).await;
}

/// Receive the next stanza with this name, failing after [`WAIT`].
pub async fn recv_named(c: &mut Client, name: &str) -> Element {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await.expect("connection alive") {
            Some(el) if el.name() == name => return el,
            Some(_) => continue,
            None => panic!("no <{name}/> within {WAIT:?}"),
        }
    }
}

/// Receive the next stanza matching a predicate, skipping others.
pub async fn recv_matching(c: &mut Client, what: &str, f: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await.expect("connection alive") {
            Some(el) if f(&el) => return el,
            Some(_) => continue,
            None => panic!("nothing matching {what} within {WAIT:?}"),
        }
    }
}

/// Flood `to` from `sender` with up to `count` messages of type `kind`
/// with bodies of `body_bytes`, pinging the server every `every` messages
/// (so that everything sent was routed), until the recipient's account has
/// no session left. Whether it was disconnected.
pub async fn flood_until_disconnected(
    sender: &mut Client,
    server: &whassap_server::Server,
    to: &str,
    kind: &str,
    body_bytes: usize,
    count: usize,
    every: usize,
) -> bool {
    let bare = to.split('/').next().unwrap_or(to);
    let big = "y".repeat(body_bytes);
    for i in 0..count {
        sender
            .send(&xml(&format!(
                "<message to='{to}' type='{kind}'><body>{i} {big}</body></message>"
            )))
            .await
            .expect("message sent");
        if i % every == every - 1 {
            sender
                .iq(xml(
                    "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
                ))
                .await
                .expect("the server answers a ping");
            if server.registry.sessions(bare).is_empty() {
                return true;
            }
        }
    }
    false
}

/// Fail if anything but the skipped stanzas arrives within `d`.
pub async fn assert_nothing(c: &mut Client, d: Duration) {
    if let Some(el) = c.recv_timeout(d).await.expect("connection alive") {
        panic!(
            "expected nothing, got {}",
            String::from_utf8_lossy(&whassap_xml::to_bytes(&el))
        );
    }
}

/// Whether this run of the suite puts every server on PostgreSQL
/// (`WHASSAP_TEST_DATABASE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("WHASSAP_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// Whether interop tests must run (set by scripts/test.sh): a missing tool is then an error.
pub fn interop_required() -> bool {
    std::env::var("WHASSAP_TEST_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// Report a skipped interop test loudly, or fail when interop is required.
pub fn skip_interop(test: &str, why: &str) {
    if interop_required() {
        panic!("{test}: required interop tool missing: {why}");
    }
    whassap_store::testing::announce_skip(&format!(
        "interop test {test}: {why}. Run ./scripts/test.sh to install it and run everything."
    ));
}

/// A raw XMPP connection over plain TCP for exact-transcript tests (bad input,
/// stream errors). Use with a server started with `allow_plaintext`.
pub struct Raw {
    stream: tokio::net::TcpStream,
    parser: whassap_xml::StreamParser,
}

/// What a raw read produced.
#[derive(Debug)]
pub enum RawEvent {
    /// A stream header from the server.
    Header,
    /// An element.
    Element(Element),
    /// `</stream:stream>` or EOF.
    Closed,
}

impl Raw {
    /// Connect (no stream opened yet).
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: tokio::net::TcpStream::connect(addr).await.expect("connect"),
            parser: whassap_xml::StreamParser::new(whassap_xml::Limits::default()),
        }
    }

    /// Wrap a connection accepted by a test's own listener (a fake peer).
    pub fn from_stream(stream: tokio::net::TcpStream) -> Raw {
        Raw {
            stream,
            parser: whassap_xml::StreamParser::new(whassap_xml::Limits::default()),
        }
    }

    /// Write bytes as they are.
    pub async fn send(&mut self, data: impl AsRef<[u8]>) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.write_all(data.as_ref()).await;
    }

    /// Open a client stream to localhost.
    pub async fn open(&mut self) {
        self.parser.reset();
        self.send(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>",
        )
        .await;
    }

    /// Next event from the server (fails after [`WAIT`]).
    pub async fn next(&mut self) -> RawEvent {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut buf = vec![0u8; 65536];
        loop {
            match self.parser.next_event() {
                Ok(Some(whassap_xml::StreamEvent::Start(_))) => return RawEvent::Header,
                Ok(Some(whassap_xml::StreamEvent::Stanza(el))) => return RawEvent::Element(el),
                Ok(Some(whassap_xml::StreamEvent::End)) => return RawEvent::Closed,
                Ok(None) => {}
                Err(e) => panic!("server sent bad XML: {e}"),
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return RawEvent::Closed,
                Ok(Ok(n)) => self.parser.feed(&buf[..n]),
                Err(_) => panic!("server said nothing within {WAIT:?}"),
            }
        }
    }

    /// Next element, skipping the stream header.
    pub async fn element(&mut self) -> Element {
        loop {
            match self.next().await {
                RawEvent::Header => continue,
                RawEvent::Element(el) => return el,
                RawEvent::Closed => panic!("stream closed while an element was expected"),
            }
        }
    }

    /// Read until a `<stream:error/>`; return its condition; then expect the close.
    pub async fn stream_error(&mut self) -> String {
        loop {
            match self.next().await {
                RawEvent::Header => continue,
                RawEvent::Element(el) if el.name() == "error" => {
                    let cond = el
                        .children()
                        .find(|c| {
                            c.ns() == "urn:ietf:params:xml:ns:xmpp-streams" && c.name() != "text"
                        })
                        .map(|c| c.name().to_string())
                        .expect("a defined condition");
                    assert!(
                        matches!(self.next().await, RawEvent::Closed),
                        "stream closed after the error"
                    );
                    return cond;
                }
                RawEvent::Element(_) => continue,
                RawEvent::Closed => panic!("stream closed without a stream error"),
            }
        }
    }

    /// Open, authenticate with PLAIN (plaintext server) and bind; returns the full JID.
    pub async fn login(&mut self, user: &str, password: &str) -> String {
        use base64::Engine;
        self.open().await;
        let _features = self.element().await;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        ))
        .await;
        let answer = self.element().await;
        assert_eq!(answer.name(), "success", "PLAIN login of {user}");
        self.open().await;
        let _features = self.element().await;
        self.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let bound = self.element().await;
        bound
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .expect("bound JID")
    }
}

/// Is the Python module slixmpp importable?
pub fn slixmpp_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import slixmpp"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run `interop/SCRIPT HOST PORT` with python3 and return whether it
/// succeeded, with its output (stdout then stderr).
pub async fn run_interop_script(script: &str, port: u16) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../interop")
        .join(script);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port.to_string()])
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("interop script task");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The NATS server of the cluster tests (`WHASSAP_TEST_NATS`, or `1` for
/// `nats://127.0.0.1:4222`), if they are on.
pub fn nats_url() -> Option<String> {
    match std::env::var("WHASSAP_TEST_NATS") {
        Ok(v) if v == "1" => Some("nats://127.0.0.1:4222".into()),
        Ok(v) if v.starts_with("nats://") => Some(v),
        _ => None,
    }
}

/// Several nodes of one cluster in this process: one fresh PostgreSQL
/// database, the NATS bus, nodes named `n0`, `n1`, ….
pub struct Cluster {
    /// The nodes.
    pub nodes: Vec<TestServer>,
    _database: Arc<whassap_store::testing::TempDatabase>,
}

impl Cluster {
    /// Start `n` nodes, or `None` (said loudly; a failure when the suite
    /// requires its services) without PostgreSQL or NATS.
    pub async fn start(test: &str, n: usize) -> Option<Cluster> {
        Self::start_with(test, n, |_| {}).await
    }

    /// [`Cluster::start`] with `change` applied to every node's settings.
    pub async fn start_with(test: &str, n: usize, change: impl Fn(&mut Config)) -> Option<Cluster> {
        Self::start_each(test, n, |_, c| change(c)).await
    }

    /// [`Cluster::start`] with `change(i, settings)` applied to node `i`'s
    /// settings (e.g. to reach NATS through a [`relay::Relay`]).
    pub async fn start_each(
        test: &str,
        n: usize,
        change: impl Fn(usize, &mut Config),
    ) -> Option<Cluster> {
        let Some(nats) = nats_url() else {
            assert!(
                !interop_required(),
                "{test}: WHASSAP_TEST_NATS is not set but cluster tests are required"
            );
            whassap_store::testing::announce_skip(&format!(
                "cluster test {test}: WHASSAP_TEST_NATS is not set. Run ./scripts/test.sh \
                 (or set WHASSAP_TEST_NATS=1 and WHASSAP_TEST_POSTGRES=1)."
            ));
            return None;
        };
        let database = Arc::new(whassap_store::testing::TempDatabase::create(test).await?);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let url = database.url.clone();
            let nats = nats.clone();
            nodes.push(
                TestServer::start_with(|c| {
                    c.database = url;
                    c.cluster = nats;
                    c.node_name = format!("n{i}");
                    change(i, c);
                })
                .await,
            );
        }
        let cluster = Cluster {
            nodes,
            _database: database,
        };
        cluster.settle().await;
        Some(cluster)
    }

    /// alice (resource `home`) on node `a` and bob (`work`) on node `b`:
    /// online, with a mutual subscription. Every node knows both are
    /// available before they subscribe: a presence crosses the bus a
    /// moment after its echo, and a request to a contact not yet seen
    /// available waits for his next login.
    pub async fn alice_and_bob(&self, a: usize, b: usize) -> (Client, Client) {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.user("alice").await;
        na.user("bob").await;
        let mut x = na.client_with_resource("alice", "home").await;
        let mut y = nb.client_with_resource("bob", "work").await;
        self.settle().await;
        get_roster(&mut x).await;
        get_roster(&mut y).await;
        go_online(&mut x).await;
        go_online(&mut y).await;
        self.settle().await;
        subscribe(&mut x, &mut y, "alice@localhost", "bob@localhost").await;
        subscribe(&mut y, &mut x, "bob@localhost", "alice@localhost").await;
        (x, y)
    }

    /// Wait until every node sees every other node's sessions as their
    /// own node has them (bound, available, priority).
    pub async fn settle(&self) {
        let view = |s: &TestServer| {
            let mut v: Vec<(String, bool, i8)> = s
                .app()
                .server
                .registry
                .all()
                .iter()
                .map(|h| {
                    let (available, priority) = h.availability();
                    (h.full.clone(), available, priority)
                })
                .collect();
            v.sort();
            v
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let views: Vec<_> = self.nodes.iter().map(view).collect();
            let peers_known = self
                .nodes
                .iter()
                .all(|s| s.app().server.cluster.peers().len() == self.nodes.len() - 1);
            if peers_known && views.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the nodes' views of the sessions did not agree within {WAIT:?}: {views:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until every node counts `count` sessions of account `bare`
    /// (its own and the other nodes'), then until the views agree.
    pub async fn wait_for_sessions(&self, bare: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self
            .nodes
            .iter()
            .all(|s| s.app().server.registry.sessions(bare).len() == count)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{bare} did not have {count} sessions on every node within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.settle().await;
    }

    /// Stop every node gracefully.
    pub async fn stop(self) {
        for n in self.nodes {
            n.stop().await;
        }
    }
}
