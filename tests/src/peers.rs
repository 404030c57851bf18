//! Other XMPP servers as federation peers, started from Debian's packages
//! with a private configuration, data dir and address (never the system
//! service), and stopped by PID when dropped.
//!
//! Peers find Whassap the way they find any server: Prosody through its
//! resolver (libunbound, given a private hosts file), ejabberd through DNS
//! SRV records (a [`FakeDns`] its Erlang resolver is pointed at); neither
//! has static routes, so the Whassap they talk to listens on port 5269 of
//! its own loopback address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Prosody.
pub struct Prosody {
    child: Child,
    dir: tempfile::TempDir,
    /// Its domain.
    pub domain: String,
    /// Its c2s listener (STARTTLS).
    pub c2s: SocketAddr,
    /// Its s2s listener.
    pub s2s: SocketAddr,
}

/// Is a program on the PATH?
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A self-signed certificate and key for `domain`, written to `dir`.
/// About a year around now: ejabberd cannot arm its expiry timer for
/// rcgen's default end of validity (the year 4096).
fn validity(params: &mut rcgen::CertificateParams) {
    let year = 1970
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 31_557_600;
    params.not_before = rcgen::date_time_ymd(year as i32 - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year as i32 + 1, 12, 31);
}

/// A self-signed certificate and key for `domain`, written to `dir`.
fn self_signed(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).expect("params");
    validity(&mut params);
    let signing_key = rcgen::KeyPair::generate().expect("a key");
    let generated = params.self_signed(&signing_key).expect("a certificate");
    write_pair(dir, domain, &generated.pem(), &signing_key.serialize_pem())
}

fn write_pair(dir: &Path, name: &str, cert_pem: &str, key_pem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key)
}

/// A certificate authority of the test's own, which both servers of a
/// test can be told to trust.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA's certificate (PEM file).
    pub cert: PathBuf,
}

impl TestCa {
    /// A new CA.
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Whassap test CA");
        validity(&mut params);
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("the CA certificate");
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, cert.pem()).unwrap();
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            dir,
            cert: path,
        }
    }

    /// A certificate for `names` (the first names the files), and its key.
    pub fn issue(&self, names: &[&str]) -> (PathBuf, PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        validity(&mut params);
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("a certificate");
        write_pair(self.dir.path(), names[0], &cert.pem(), &key.serialize_pem())
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// TLS of a Prosody started with [`Prosody::start_with_ca`].
pub struct ProsodyTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// The CA it trusts for peers' certificates.
    pub ca: PathBuf,
}

/// Wait until every address accepts connections, at most `secs`.
async fn wait_listening(what: &str, addrs: &[SocketAddr], secs: u64, log: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let mut up = true;
        for a in addrs {
            up &= tokio::net::TcpStream::connect(a).await.is_ok();
        }
        if up {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not start: {}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last 6,000 bytes of a log file (for failure messages).
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(6000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text[start..].to_string()
}

impl Prosody {
    /// Start Prosody for `domain` on `ip`, resolving each `(domain, ip)` of
    /// `hosts` to that address.
    pub async fn start(domain: &str, ip: &str, hosts: &[(&str, &str)]) -> Prosody {
        Self::start_with_ca(domain, ip, hosts, None).await
    }

    /// As [`start`](Self::start); with `tls`, Prosody uses that
    /// certificate, trusts that CA and accepts only peers with valid
    /// certificates (`s2s_secure_auth`: SASL EXTERNAL, no dialback).
    pub async fn start_with_ca(
        domain: &str,
        ip: &str,
        hosts: &[(&str, &str)],
        tls: Option<ProsodyTls>,
    ) -> Prosody {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("data")).unwrap();
        let (cert, key, cafile, secure) = match tls {
            Some(t) => (
                t.cert,
                t.key,
                format!("; cafile = \"{}\"", t.ca.display()),
                true,
            ),
            None => {
                let (c, k) = self_signed(d, domain);
                (c, k, String::new(), false)
            }
        };
        let hosts_txt: String = hosts.iter().map(|(h, a)| format!("{a} {h}\n")).collect();
        std::fs::write(d.join("hosts"), hosts_txt).unwrap();
        let (c2s, s2s) = (crate::free_port(ip), crate::free_port(ip));
        let config = format!(
            r#"run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{d}/prosody.log" }} }}
interfaces = {{ "{ip}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {secure}
s2s_timeout = 10
authentication = "internal_hashed"
storage = "internal"
unbound = {{ hoststxt = "{d}/hosts"; resolvconf = false; forward = {{ "127.0.0.1" }} }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "pep"; "ping"; "offline"; "blocklist" }}
modules_disabled = {{ "posix" }}
VirtualHost "{domain}"
  ssl = {{ key = "{key}"; certificate = "{cert}"{cafile} }}
"#,
            d = d.display(),
            key = key.display(),
            cert = cert.display(),
        );
        let cfg = d.join("prosody.cfg.lua");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(d.join("stdout.log")).unwrap();
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&cfg)
            .arg("-F")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prosody starts");
        let c2s: SocketAddr = format!("{ip}:{c2s}").parse().unwrap();
        let s2s: SocketAddr = format!("{ip}:{s2s}").parse().unwrap();
        let p = Prosody {
            child,
            dir,
            domain: domain.to_string(),
            c2s,
            s2s,
        };
        p.wait_listening().await;
        p
    }

    async fn wait_listening(&self) {
        wait_listening("Prosody", &[self.s2s, self.c2s], 15, || self.log()).await;
    }

    /// Create an account.
    pub fn register(&self, user: &str, password: &str) {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.dir.path().join("prosody.cfg.lua"))
            .args(["register", user, &self.domain, password])
            .output()
            .expect("prosodyctl runs");
        assert!(
            out.status.success(),
            "prosodyctl register: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The end of its log (for failure messages).
    pub fn log(&self) -> String {
        tail(&self.dir.path().join("prosody.log"))
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if std::env::var("WHASSAP_TEST_KEEP_PEER_LOG").is_ok() {
            eprintln!("{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A slixmpp user on a peer server, following a Whassap user's statuses
/// (`interop/slixmpp_federation.py`), driven line by line.
pub struct SlixmppFollower {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl SlixmppFollower {
    /// Log `jid` in at `addr` and subscribe to `whassap_user`'s microblog
    /// node; returns once the script says it is ready.
    pub async fn start(
        addr: SocketAddr,
        jid: &str,
        password: &str,
        whassap_user: &str,
    ) -> Result<SlixmppFollower, String> {
        use tokio::io::AsyncBufReadExt;
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/slixmpp_federation.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .args([
                &addr.ip().to_string(),
                &addr.port().to_string(),
                jid,
                password,
                whassap_user,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut f = SlixmppFollower {
            child,
            stdin,
            lines,
        };
        match f.answer().await.as_str() {
            "READY" => Ok(f),
            other => Err(other.to_string()),
        }
    }

    /// Send one command line.
    pub async fn say(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the script reads");
        self.stdin.flush().await.expect("flush");
    }

    /// The script's next line (within 30 s).
    pub async fn answer(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(30), self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => "FAIL the script ended".into(),
            Err(_) => "FAIL the script said nothing for 30 s".into(),
        }
    }
}

impl Drop for SlixmppFollower {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A running ejabberd (Debian's; `ejabberdctl` runs it as the `ejabberd`
/// user, so its directory is handed to that user).
pub struct Ejabberd {
    child: Child,
    _dns: FakeDns,
    dir: tempfile::TempDir,
    node: String,
    /// Its domain.
    pub domain: String,
    /// Its c2s listener (STARTTLS).
    pub c2s: SocketAddr,
    /// Its s2s listener.
    pub s2s: SocketAddr,
}

impl Ejabberd {
    /// Start ejabberd for `domain` on `ip`, resolving each `(domain, ip)`
    /// of `hosts` to that address (a [`FakeDns`] named in Erlang's
    /// `inetrc`).
    pub async fn start(domain: &str, ip: &str, hosts: &[(&str, &str)]) -> Ejabberd {
        let dns = FakeDns::start(hosts).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["spool", "logs"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let (cert, key) = self_signed(d, domain);
        let pem = format!(
            "{}{}",
            std::fs::read_to_string(&cert).unwrap(),
            std::fs::read_to_string(&key).unwrap()
        );
        std::fs::write(d.join("ejabberd.pem"), pem).unwrap();
        // Erlang's resolver asks the fake DNS (SRV records); the node's own
        // name (localhost) still comes from /etc/hosts.
        let inetrc = format!(
            "{{lookup, [file, dns]}}.\n{{resolv_conf, \"\"}}.\n{{nameserver, {{127,0,0,1}}, {}}}.\n{{timeout, 1000}}.\n",
            dns.addr.port()
        );
        std::fs::write(d.join("inetrc"), inetrc).unwrap();
        let (c2s, s2s) = (crate::free_port(ip), crate::free_port(ip));
        let config = format!(
            r#"hosts:
  - {domain}
loglevel: info
certfiles:
  - {d}/ejabberd.pem
listen:
  -
    port: {c2s}
    ip: "{ip}"
    module: ejabberd_c2s
    starttls_required: true
  -
    port: {s2s}
    ip: "{ip}"
    module: ejabberd_s2s_in
s2s_use_starttls: optional
s2s_dns_timeout: 2
s2s_dns_retries: 1
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    allow: all
modules:
  mod_roster: {{}}
  mod_disco: {{}}
  mod_caps: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_s2s_dialback: {{}}
  mod_pubsub:
    plugins:
      - flat
      - pep
"#,
            d = d.display()
        );
        std::fs::write(d.join("ejabberd.yml"), config).unwrap();
        // The Erlang node writes its PID here: it is stopped by PID.
        std::fs::write(
            d.join("ejabberdctl.cfg"),
            format!("EJABBERD_PID_PATH={}/ejabberd.pid\n", d.display()),
        )
        .unwrap();
        // ejabberdctl runs as the ejabberd user: it must reach and own the dir.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let chown = Command::new("chown")
            .args(["-R", "ejabberd:ejabberd"])
            .arg(d)
            .status()
            .expect("chown runs");
        assert!(chown.success(), "chown of the ejabberd dir");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let node = format!(
            "whassaptest{}n{}@localhost",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let log = std::fs::File::create(d.join("stdout.log")).unwrap();
        let mut e = Ejabberd {
            child: Command::new("true").spawn().unwrap(),
            _dns: dns,
            dir,
            node,
            domain: domain.to_string(),
            c2s: format!("{ip}:{c2s}").parse().unwrap(),
            s2s: format!("{ip}:{s2s}").parse().unwrap(),
        };
        let _ = e.child.wait();
        e.child = e
            .ctl()
            .arg("foreground")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("ejabberdctl starts");
        e.wait_listening().await;
        e
    }

    fn ctl(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("ejabberdctl");
        c.arg("--config-dir")
            .arg(d)
            .arg("--config")
            .arg(d.join("ejabberd.yml"))
            .arg("--spool")
            .arg(d.join("spool"))
            .arg("--logs")
            .arg(d.join("logs"))
            .args(["--node", &self.node]);
        c
    }

    async fn wait_listening(&self) {
        wait_listening("ejabberd", &[self.s2s, self.c2s], 60, || self.log()).await;
    }

    /// Create an account.
    pub fn register(&self, user: &str, password: &str) {
        let out = self
            .ctl()
            .args(["register", user, &self.domain, password])
            .output()
            .expect("ejabberdctl runs");
        assert!(
            out.status.success(),
            "ejabberdctl register: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The end of its log (for failure messages).
    pub fn log(&self) -> String {
        tail(&self.dir.path().join("logs/ejabberd.log"))
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        if std::env::var("WHASSAP_TEST_KEEP_PEER_LOG").is_ok() {
            eprintln!("{}", self.log());
        }
        // The foreground child is only `su`: the Erlang node is stopped by
        // the PID it wrote.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("ejabberd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DNS server on 127.0.0.1 that knows a few names (their A record, and
/// an `_xmpp-server._tcp` SRV record pointing at port 5269 of their
/// address) and nothing else (NXDOMAIN): for ejabberd, which looks up SRV
/// records with Erlang's resolver (pointed here by its `inetrc`).
pub struct FakeDns {
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDns {
    /// Answer for each `(name, IPv4 address)`, its s2s port being 5269.
    pub async fn start(hosts: &[(&str, &str)]) -> FakeDns {
        let records: Vec<(&str, &str, u16)> = hosts.iter().map(|(h, a)| (*h, *a, 5269)).collect();
        Self::start_srv(&records).await
    }

    /// Answer for each `(name, IPv4 address, s2s port)`.
    pub async fn start_srv(records: &[(&str, &str, u16)]) -> FakeDns {
        use hickory_resolver::proto::op::{Message, ResponseCode};
        use hickory_resolver::proto::rr::rdata::{A, SRV};
        use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
        let hosts: std::collections::HashMap<String, (std::net::Ipv4Addr, u16)> = records
            .iter()
            .map(|(h, a, p)| (h.to_string(), (a.parse().expect("an IPv4 address"), *p)))
            .collect();
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    return;
                };

                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.recursion_desired = q.metadata.recursion_desired;
                r.metadata.recursion_available = true;
                r.metadata.authoritative = true;
                let mut known = false;
                for query in &q.queries {
                    r.add_query(query.clone());
                    let name = query.name().to_utf8().trim_end_matches('.').to_lowercase();
                    // `_xmpp-server._tcp.<name>`: an SRV record to <name>:5269.
                    let srv_of = name.strip_prefix("_xmpp-server._tcp.");
                    if let Some(host) = srv_of.filter(|h| hosts.contains_key(*h)) {
                        known = true;
                        if query.query_type() == RecordType::SRV {
                            // The target is the address itself: ejabberd
                            // resolves targets with the system's
                            // getaddrinfo, which this server cannot answer.
                            let (ip, port) = hosts[host];
                            let target = Name::from_utf8(format!("{ip}.")).expect("a name");
                            r.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                RData::SRV(SRV::new(0, 0, port, target.clone())),
                            ));
                            r.add_additional(Record::from_rdata(target, 60, RData::A(A(ip))));
                        }
                    } else if let Some((ip, _)) = hosts.get(&name) {
                        known = true;
                        if query.query_type() == RecordType::A {
                            r.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                RData::A(A(*ip)),
                            ));
                        }
                    }
                }
                if !known {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, from).await;
                }
            }
        });
        FakeDns { addr, task }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
