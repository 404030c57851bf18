//! Unit tests: the pure helpers, and the negotiation against a scripted
//! plaintext peer (the real server is exercised by the workspace's tests/).

use std::sync::Arc;

use super::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use whassap_proto::scram::{ScramServer, StoredCredentials};
use whassap_xml::{Limits, StreamParser};

fn el(s: &str) -> Element {
    s.parse().unwrap()
}

#[test]
fn mechanisms_are_read_from_features() {
    let f = el(
        "<features xmlns='http://etherx.jabber.org/streams'>\
        <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
        <mechanism>SCRAM-SHA-256</mechanism><mechanism> PLAIN </mechanism></mechanisms></features>",
    );
    assert_eq!(mechanisms(&f), vec!["SCRAM-SHA-256", "PLAIN"]);
    assert!(mechanisms(&el("<features xmlns='http://etherx.jabber.org/streams'/>")).is_empty());
}

#[test]
fn sasl_payloads_use_base64_and_equals_for_empty() {
    assert_eq!(sasl_element("response", b"").text(), "=");
    let auth = sasl_element("auth", b"\0alice\0pw");
    assert_eq!(auth.text(), "AGFsaWNlAHB3");
    assert!(auth.is("auth", NS_SASL));
    assert_eq!(sasl_payload(&auth).unwrap(), b"\0alice\0pw");
    assert_eq!(sasl_payload(&sasl_element("success", b"")).unwrap(), b"");
    assert_eq!(
        sasl_payload(&el("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")).unwrap(),
        b""
    );
    assert!(sasl_payload(&el(
        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>!!</challenge>"
    ))
    .is_err());
}

#[test]
fn failure_conditions() {
    let f = el("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><text>no</text><not-authorized/></failure>");
    assert!(matches!(sasl_failure(&f), ClientError::AuthFailed(c) if c == "not-authorized"));
    let f = el("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><account-disabled/></failure>");
    assert!(matches!(sasl_failure(&f), ClientError::AuthFailed(c) if c == "account-disabled"));
    let iq = el(
        "<iq xmlns='jabber:client' type='error' id='1'><error type='cancel'>\
        <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    assert_eq!(crate::StanzaError::from_stanza(&iq).condition, "conflict");
}

#[test]
fn only_results_and_errors_with_the_id_answer_an_iq() {
    assert!(is_answer(
        &el("<iq xmlns='jabber:client' type='result' id='a'/>"),
        "a"
    ));
    assert!(is_answer(
        &el("<iq xmlns='jabber:client' type='error' id='a'/>"),
        "a"
    ));
    assert!(!is_answer(
        &el("<iq xmlns='jabber:client' type='get' id='a'/>"),
        "a"
    ));
    assert!(!is_answer(
        &el("<iq xmlns='jabber:client' type='result' id='b'/>"),
        "a"
    ));
    assert!(!is_answer(
        &el("<message xmlns='jabber:client' type='result' id='a'/>"),
        "a"
    ));
}

/// The transport of the scripted server.
enum PeerIo {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// During the TLS handshake.
    Gone,
}

impl PeerIo {
    fn get(&mut self) -> &mut (dyn Duplex + '_) {
        match self {
            PeerIo::Tcp(s) => s,
            PeerIo::Tls(s) => s.as_mut(),
            PeerIo::Gone => panic!("transport lost in a TLS handshake"),
        }
    }
}

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// The server side of a scripted exchange.
struct Peer {
    io: PeerIo,
    parser: StreamParser,
}

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (tcp, _) = listener.accept().await.unwrap();
        Peer {
            io: PeerIo::Tcp(tcp),
            parser: StreamParser::new(Limits::default()),
        }
    }

    async fn next(&mut self) -> StreamEvent {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(ev) = self.parser.next_event().expect("client sends valid XML") {
                return ev;
            }
            let n = self.io.get().read(&mut buf).await.unwrap();
            assert!(n > 0, "client hung up");
            self.parser.feed(&buf[..n]);
        }
    }

    async fn stanza(&mut self) -> Element {
        match self.next().await {
            StreamEvent::Stanza(el) => el,
            other => panic!("expected a stanza, got {other:?}"),
        }
    }

    async fn send(&mut self, s: &str) {
        self.io.get().write_all(s.as_bytes()).await.unwrap();
        self.io.get().flush().await.unwrap();
    }

    /// TLS handshake as the server (after `<proceed/>`, or at once for
    /// direct TLS); returns the ALPN protocol the client chose.
    async fn tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> Option<Vec<u8>> {
        let PeerIo::Tcp(tcp) = std::mem::replace(&mut self.io, PeerIo::Gone) else {
            panic!("already TLS")
        };
        let tls = acceptor.accept(tcp).await.expect("TLS handshake");
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        self.io = PeerIo::Tls(Box::new(tls));
        alpn
    }

    /// Read the client's stream header and answer with header and features.
    async fn open(&mut self, features: &str) {
        self.parser.reset();
        match self.next().await {
            StreamEvent::Start(h) => {
                assert!(h.stream_ns_ok);
                assert_eq!(h.to.as_deref(), Some("localhost"));
                assert_eq!(h.default_ns.as_deref(), Some("jabber:client"));
            }
            other => panic!("expected a header, got {other:?}"),
        }
        let header =
            whassap_xml::stream_header("jabber:client", Some("localhost"), None, Some("s"), None);
        self.send(&format!(
            "{header}<stream:features>{features}</stream:features>"
        ))
        .await;
    }

    /// Answer the bind request with `jid`.
    async fn bind(&mut self, jid: &str) -> Option<String> {
        let iq = self.stanza().await;
        assert!(iq.is("iq", "jabber:client") && iq.attr("type") == Some("set"));
        let bind = iq.get_child("bind", NS_BIND).expect("bind request");
        let resource = bind.get_child("resource", NS_BIND).map(Element::text);
        let id = iq.attr("id").unwrap();
        self.send(&format!(
            "<iq type='result' id='{id}'><bind xmlns='{NS_BIND}'><jid>{jid}</jid></bind></iq>"
        ))
        .await;
        resource
    }
}

const BIND: &str = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>";

fn options(addr: std::net::SocketAddr, mechanism: Mechanism) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr, "localhost", "alice", "secret");
    o.tls = TlsMode::Plain;
    o.mechanism = mechanism;
    o.timeout = Duration::from_secs(5);
    o
}

#[tokio::test]
async fn plain_login_bind_iq_buffering_and_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&listener).await;
        p.open("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>").await;
        let auth = p.stanza().await;
        assert_eq!(auth.attr("mechanism"), Some("PLAIN"));
        assert_eq!(sasl_payload(&auth).unwrap(), b"\0alice\0secret");
        p.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            .await;
        p.open(BIND).await;
        assert_eq!(
            p.bind("alice@localhost/laptop").await.as_deref(),
            Some("laptop")
        );

        // An iq, answered only after two unrelated stanzas.
        let ping = p.stanza().await;
        let id = ping.attr("id").expect("iq got an id").to_owned();
        p.send("<message from='bob@localhost'><body>1</body></message>")
            .await;
        p.send(&format!(
            "<iq type='result' id='other'/><iq type='result' id='{id}' from='localhost'/>"
        ))
        .await;
        p.send("<message from='bob@localhost'><body>2</body></message>")
            .await;

        assert_eq!(p.next().await, StreamEvent::End);
        p.send("</stream:stream>").await;
    });

    let mut o = options(addr, Mechanism::Plain);
    o.resource = Some("laptop".into());
    let mut c = Client::connect(o).await.expect("connects");
    assert_eq!(c.jid(), "alice@localhost/laptop");

    let ping = el(
        "<iq xmlns='jabber:client' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    let (sent, received) = (c.bytes_sent(), c.bytes_received());
    assert!(sent > 0 && received > 0, "the login is counted");
    let answer = c.iq(ping).await.unwrap();
    assert_eq!(answer.attr("from"), Some("localhost"));
    // The ping went out; its answer came in, after two other stanzas.
    assert!(c.bytes_sent() > sent + 60, "{sent} → {}", c.bytes_sent());
    assert!(c.bytes_received() > received + 100);
    let bodies: Vec<_> = [
        c.recv().await.unwrap(),
        c.recv().await.unwrap(),
        c.recv().await.unwrap(),
    ]
    .iter()
    .map(|e| {
        let body = e.get_child("body", "jabber:client").map(Element::text);
        format!("{}:{}", e.name(), body.unwrap_or_default())
    })
    .collect();
    assert_eq!(bodies, ["message:1", "iq:", "message:2"]);
    assert!(c
        .recv_timeout(Duration::from_millis(50))
        .await
        .unwrap()
        .is_none());
    c.close().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn scram_login_against_the_proto_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&listener).await;
        p.open("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>\
                <mechanism>SCRAM-SHA-256</mechanism></mechanisms>").await;
        let auth = p.stanza().await;
        assert_eq!(auth.attr("mechanism"), Some("SCRAM-SHA-256"));
        let mut scram = ScramServer::new(Hash::Sha256);
        let user = scram
            .handle_client_first(&sasl_payload(&auth).unwrap())
            .unwrap();
        assert_eq!(user, "alice");
        let creds = StoredCredentials::generate(Hash::Sha256, "secret", 4096);
        let first = scram.server_first(Some(creds));
        p.send(&format!(
            "<challenge xmlns='{NS_SASL}'>{}</challenge>",
            B64.encode(first)
        ))
        .await;
        let response = p.stanza().await;
        let last = scram
            .handle_client_final(&sasl_payload(&response).unwrap())
            .unwrap();
        p.send(&format!(
            "<success xmlns='{NS_SASL}'>{}</success>",
            B64.encode(last)
        ))
        .await;
        p.open(BIND).await;
        assert_eq!(p.bind("alice@localhost/generated").await, None);
        p.send("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").await;
    });
    let mut c = Client::connect(options(addr, Mechanism::ScramSha256))
        .await
        .expect("connects");
    assert_eq!(c.jid(), "alice@localhost/generated");
    match c.recv().await {
        Err(ClientError::StreamError { condition, .. }) => assert_eq!(condition, "conflict"),
        other => panic!("expected the stream error, got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn failures_are_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // 1: wrong password.
        let mut p = Peer::accept(&listener).await;
        p.open("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>").await;
        p.stanza().await;
        p.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
            .await;
        // 2: the mechanism is not offered.
        let mut p = Peer::accept(&listener).await;
        p.open("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>").await;
        // 3: STARTTLS wanted but not offered.
        let mut p = Peer::accept(&listener).await;
        p.open("").await;
        // 4: silence.
        let _p = Peer::accept(&listener).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let err = Client::connect(options(addr, Mechanism::Plain))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ClientError::AuthFailed(c) if c == "not-authorized"),
        "{err}"
    );
    let err = Client::connect(options(addr, Mechanism::ScramSha256))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("SCRAM-SHA-256 not offered")),
        "{err}"
    );
    let mut o = options(addr, Mechanism::Plain);
    o.tls = TlsMode::StartTls;
    let err = Client::connect(o).await.err().unwrap();
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("STARTTLS")),
        "{err}"
    );
    let mut o = options(addr, Mechanism::Plain);
    o.timeout = Duration::from_millis(200);
    assert!(matches!(
        Client::connect(o).await,
        Err(ClientError::Timeout)
    ));
    server.await.unwrap();
}

/// A TLS acceptor with a fresh self-signed certificate for localhost.
fn acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

const PLAIN_ONLY: &str =
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>";

/// PLAIN login and bind, after TLS is up.
async fn login_and_bind(p: &mut Peer) {
    p.open(PLAIN_ONLY).await;
    p.stanza().await;
    p.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await;
    p.open(BIND).await;
    p.bind("alice@localhost/tls").await;
}

#[tokio::test]
async fn starttls_then_login() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let acceptor = acceptor();
        let mut p = Peer::accept(&listener).await;
        p.open("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>")
            .await;
        assert!(p.stanza().await.is("starttls", NS_TLS));
        p.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await;
        assert_eq!(p.tls(&acceptor).await, None, "no ALPN with STARTTLS");
        login_and_bind(&mut p).await;
    });
    let mut o = options(addr, Mechanism::Plain);
    o.tls = TlsMode::StartTls;
    let c = Client::connect(o).await.expect("connects over STARTTLS");
    assert_eq!(c.jid(), "alice@localhost/tls");
    server.await.unwrap();
}

#[tokio::test]
async fn direct_tls_uses_alpn_and_certificates_are_checked_unless_told() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let acceptor = acceptor();
        let mut p = Peer::accept(&listener).await;
        assert_eq!(p.tls(&acceptor).await.as_deref(), Some(&b"xmpp-client"[..]));
        login_and_bind(&mut p).await;
        // The second client refuses the self-signed certificate.
        let (tcp, _) = listener.accept().await.unwrap();
        assert!(acceptor.accept(tcp).await.is_err());
    });
    let mut o = options(addr, Mechanism::Plain);
    o.tls = TlsMode::Direct;
    let c = Client::connect(o.clone())
        .await
        .expect("connects over direct TLS");
    assert_eq!(c.jid(), "alice@localhost/tls");
    o.accept_invalid_certs = false;
    match Client::connect(o).await {
        Err(ClientError::Certificate(_)) => {}
        other => panic!(
            "a self-signed certificate must be refused, got {:?}",
            other.map(|c| c.jid().to_owned())
        ),
    }
    server.await.unwrap();
}

#[test]
fn types_can_cross_threads() {
    fn send<T: Send + 'static>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send::<Client>();
    send::<RawConnection>();
    error::<ClientError>();
}
