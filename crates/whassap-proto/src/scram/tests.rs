use super::*;

/// One published exchange: (hash, salt, client nonce, server nonce, the four
/// messages).
struct Vector {
    hash: Hash,
    salt: &'static str,
    cnonce: &'static str,
    snonce: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

/// RFC 5802 §5 (user "user", password "pencil").
const RFC5802: Vector = Vector {
    hash: Hash::Sha1,
    salt: "QSXCR+Q6sek8bf92",
    cnonce: "fyko+d2lbbFgONRv9qkxdawL",
    snonce: "3rfcNHYJY1ZVvWVs7j",
    client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final:
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

/// RFC 7677 §3 (user "user", password "pencil").
const RFC7677: Vector = Vector {
    hash: Hash::Sha256,
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    cnonce: "rOprNGfwEbeRWgbNEkqO",
    snonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/// Each side, fed the other side's published messages, must produce its own
/// published messages byte for byte.
fn check_vector(v: &Vector) {
    let salt = B64.decode(v.salt).unwrap();
    let creds = StoredCredentials::derive(v.hash, "pencil", &salt, 4096);

    let mut server = ScramServer::with_fixed_nonce(v.hash, v.snonce);
    assert_eq!(
        server
            .handle_client_first(v.client_first.as_bytes())
            .unwrap(),
        "user"
    );
    assert_eq!(server.authzid(), None);
    assert_eq!(server.server_first(Some(creds)), v.server_first.as_bytes());
    let server_final = server
        .handle_client_final(v.client_final.as_bytes())
        .unwrap();
    assert_eq!(server_final, v.server_final.as_bytes());

    let mut client = ScramClient::with_nonce(v.hash, "user", "pencil", v.cnonce);
    assert_eq!(client.client_first(), v.client_first.as_bytes());
    let client_final = client
        .handle_server_first(v.server_first.as_bytes())
        .unwrap();
    assert_eq!(client_final, v.client_final.as_bytes());
    client
        .verify_server_final(v.server_final.as_bytes())
        .unwrap();
}

#[test]
fn rfc5802_sha1_test_vector() {
    check_vector(&RFC5802);
}

#[test]
fn rfc7677_sha256_test_vector() {
    check_vector(&RFC7677);
}

/// Our client against our server; returns the server's verdict.
fn round_trip(hash: Hash, stored_password: &str, password: &str) -> Result<(), ScramError> {
    let creds = StoredCredentials::generate(hash, stored_password, 4096);
    let mut client = ScramClient::new(hash, "alice", password);
    let mut server = ScramServer::new(hash);
    assert_eq!(server.handle_client_first(&client.client_first())?, "alice");
    let first = server.server_first(Some(creds));
    let fin = client.handle_server_first(&first)?;
    let server_final = server.handle_client_final(&fin)?;
    client.verify_server_final(&server_final)
}

#[test]
fn round_trip_for_both_hashes() {
    for hash in Hash::ALL {
        round_trip(hash, "correct horse", "correct horse").unwrap();
        round_trip(hash, "pässwörd ℌ", "pässwörd ℌ").unwrap();
    }
}

#[test]
fn wrong_password_fails_for_both_hashes() {
    for hash in Hash::ALL {
        let err = round_trip(hash, "pencil", "pen").unwrap_err();
        assert_eq!(err, ScramError::InvalidProof);
        assert_eq!(err.sasl_condition(), "not-authorized");
    }
}

#[test]
fn client_refuses_a_forged_server_signature() {
    let mut client = ScramClient::with_nonce(Hash::Sha1, "user", "pencil", RFC5802.cnonce);
    client.client_first();
    client
        .handle_server_first(RFC5802.server_first.as_bytes())
        .unwrap();
    let forged = b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(
        client.verify_server_final(forged).unwrap_err(),
        ScramError::InvalidProof
    );
    assert_eq!(
        client.verify_server_final(b"e=other-error").unwrap_err(),
        ScramError::ServerRejected("other-error".into())
    );
}

/// The server-first-message with the nonces cut out: what an attacker
/// probing for user existence can compare.
fn server_first_shape(secret: &[u8], user: &str, creds: Option<StoredCredentials>) -> String {
    let mut server = ScramServer::with_secret(Hash::Sha256, secret);
    let msg = format!("n,,n={user},r=clientnonce");
    server.handle_client_first(msg.as_bytes()).unwrap();
    let first = String::from_utf8(server.server_first(creds)).unwrap();
    let (nonce, rest) = first.split_once(",s=").unwrap();
    assert!(nonce.starts_with("r=clientnonce") && nonce.len() > "r=clientnonce".len());
    format!("s={rest}")
}

#[test]
fn unknown_user_gets_a_stable_plausible_challenge_and_fails() {
    let a = server_first_shape(b"secret", "ghost", None);
    let b = server_first_shape(b"secret", "ghost", None);
    assert_eq!(a, b, "the fake salt is stable per username");
    assert_ne!(a, server_first_shape(b"secret", "other", None));
    assert_ne!(a, server_first_shape(b"another secret", "ghost", None));

    // Same shape as a real user's: 16-byte salt, same iteration count.
    let real = StoredCredentials::generate(Hash::Sha256, "pw", 4096);
    let real = server_first_shape(b"secret", "alice", Some(real));
    assert_eq!(a.len(), real.len());
    assert!(a.ends_with(",i=4096") && real.ends_with(",i=4096"));

    // The exchange fails at the proof, whatever the password.
    let mut client = ScramClient::new(Hash::Sha256, "ghost", "anything");
    let mut server = ScramServer::new(Hash::Sha256);
    server.handle_client_first(&client.client_first()).unwrap();
    let first = server.server_first(None);
    let fin = client.handle_server_first(&first).unwrap();
    assert_eq!(
        server.handle_client_final(&fin).unwrap_err(),
        ScramError::InvalidProof
    );
}

#[test]
fn fake_iterations_follow_the_configuration() {
    let mut server = ScramServer::new(Hash::Sha1).fake_iterations(10_000);
    server.handle_client_first(b"n,,n=ghost,r=abc").unwrap();
    let first = String::from_utf8(server.server_first(None)).unwrap();
    assert!(first.ends_with(",i=10000"), "{first}");
}

#[test]
fn credentials_of_another_hash_are_treated_as_unknown() {
    let sha1 = StoredCredentials::generate(Hash::Sha1, "pw", 4096);
    let mut client = ScramClient::new(Hash::Sha256, "alice", "pw");
    let mut server = ScramServer::new(Hash::Sha256);
    server.handle_client_first(&client.client_first()).unwrap();
    let first = server.server_first(Some(sha1));
    let fin = client.handle_server_first(&first).unwrap();
    assert_eq!(
        server.handle_client_final(&fin).unwrap_err(),
        ScramError::InvalidProof
    );
}

#[test]
fn tampered_nonce_is_refused() {
    let mut client = ScramClient::new(Hash::Sha1, "user", "pencil");
    let mut server = ScramServer::new(Hash::Sha1);
    server.handle_client_first(&client.client_first()).unwrap();
    let creds = StoredCredentials::generate(Hash::Sha1, "pencil", 4096);
    let first = server.server_first(Some(creds));
    let fin = String::from_utf8(client.handle_server_first(&first).unwrap()).unwrap();
    let tampered = fin.replacen(",r=", ",r=X", 1);
    let err = server.handle_client_final(tampered.as_bytes()).unwrap_err();
    assert_eq!(err, ScramError::NonceMismatch);
    // The exchange is over: a retry with the genuine message is refused.
    let err = server.handle_client_final(fin.as_bytes()).unwrap_err();
    assert_eq!(err, ScramError::OutOfOrder);

    // A server nonce that does not extend the client's is refused by the client.
    let mut client = ScramClient::with_nonce(Hash::Sha1, "user", "pencil", "abc");
    client.client_first();
    let err = client
        .handle_server_first(b"r=xyz123,s=QSXCR+Q6sek8bf92,i=4096")
        .unwrap_err();
    assert_eq!(err, ScramError::NonceMismatch);
}

#[test]
fn channel_binding_header_must_match() {
    // A client-final claiming `p=` binding after a `n,,` start is refused.
    let mut server = ScramServer::with_fixed_nonce(Hash::Sha1, RFC5802.snonce);
    server
        .handle_client_first(RFC5802.client_first.as_bytes())
        .unwrap();
    let salt = B64.decode(RFC5802.salt).unwrap();
    server.server_first(Some(StoredCredentials::derive(
        Hash::Sha1,
        "pencil",
        &salt,
        4096,
    )));
    let fin = RFC5802.client_final.replace("c=biws", "c=eSws");
    let err = server.handle_client_final(fin.as_bytes()).unwrap_err();
    assert!(matches!(err, ScramError::Malformed(_)), "{err:?}");
}

#[test]
fn gs2_headers() {
    let mut s = ScramServer::new(Hash::Sha1);
    let err = s
        .handle_client_first(b"p=tls-unique,,n=user,r=abc")
        .unwrap_err();
    assert_eq!(err, ScramError::ChannelBindingUnsupported);
    assert_eq!(err.sasl_condition(), "invalid-mechanism");

    // `y`: the client could bind but believes we cannot; right, so accepted,
    // and the whole exchange works with c= echoing `y,,`.
    let creds = StoredCredentials::generate(Hash::Sha256, "pw", 4096);
    let mut server = ScramServer::new(Hash::Sha256);
    server.handle_client_first(b"y,,n=alice,r=abcdef").unwrap();
    let first = String::from_utf8(server.server_first(Some(creds.clone()))).unwrap();
    // Build the matching client-final by hand from the stored secrets.
    let nonce = first.split(',').next().unwrap().strip_prefix("r=").unwrap();
    let without_proof = format!("c={},r={nonce}", B64.encode("y,,"));
    let auth = format!("n=alice,r=abcdef,{first},{without_proof}");
    let salted = Hash::Sha256.salted_password("pw", &creds.salt, 4096);
    let client_key = Hash::Sha256.hmac(&salted, b"Client Key");
    let signature = Hash::Sha256.hmac(&creds.stored_key, auth.as_bytes());
    let fin = format!(
        "{without_proof},p={}",
        B64.encode(xor(&client_key, &signature))
    );
    server.handle_client_final(fin.as_bytes()).unwrap();
}

#[test]
fn malformed_client_first_messages() {
    for bad in [
        &b""[..],
        b"x,,n=user,r=abc",
        b"n,,r=abc",
        b"n,,n=user",
        b"n,,n=user,r=",
        b"n,,n=user,r=a\x01b",
        b"n,,m=ext,n=user,r=abc",
        b"n,,n=us=ZZer,r=abc",
        b"n,,n=,r=abc",
        b"n,b=x,n=user,r=abc",
        b"n,,n=\xff,r=abc",
    ] {
        let err = ScramServer::new(Hash::Sha1)
            .handle_client_first(bad)
            .unwrap_err();
        assert_eq!(
            err.sasl_condition(),
            "malformed-request",
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn steps_out_of_order() {
    let mut s = ScramServer::new(Hash::Sha1);
    assert_eq!(
        s.handle_client_final(b"c=biws,r=a,p=AAAA").unwrap_err(),
        ScramError::OutOfOrder
    );
    assert!(s.server_first(None).is_empty());
    let mut c = ScramClient::new(Hash::Sha1, "u", "p");
    assert_eq!(
        c.handle_server_first(b"r=a,s=QQ==,i=1").unwrap_err(),
        ScramError::OutOfOrder
    );
    assert_eq!(
        c.verify_server_final(b"v=AAAA").unwrap_err(),
        ScramError::OutOfOrder
    );
}

#[test]
fn authzid_and_escaped_names() {
    let mut s = ScramServer::new(Hash::Sha256);
    let user = s
        .handle_client_first(b"n,a=al=2Cice@localhost,n=al=3Dice,r=abc")
        .unwrap();
    assert_eq!(user, "al=ice");
    assert_eq!(s.authzid(), Some("al,ice@localhost"));

    // The client escapes what it must, and the server gets the name back.
    let mut c = ScramClient::with_nonce(Hash::Sha256, "a,b=c", "pw", "n0nce");
    assert_eq!(c.client_first(), b"n,,n=a=2Cb=3Dc,r=n0nce");
    let mut s = ScramServer::new(Hash::Sha256);
    assert_eq!(s.handle_client_first(&c.client_first()).unwrap(), "a,b=c");
}

#[test]
fn usernames_are_saslprepped() {
    let mut s = ScramServer::new(Hash::Sha256);
    // U+00A0 (no-break space) maps to a space under SASLprep.
    let user = s
        .handle_client_first("n,,n=a\u{a0}b,r=abc".as_bytes())
        .unwrap();
    assert_eq!(user, "a b");
}

#[test]
fn cached_salted_password_gives_the_same_proof() {
    let creds = StoredCredentials::generate(Hash::Sha256, "pw", 4096);
    let mut first = ScramClient::new(Hash::Sha256, "u", "pw");
    let mut server = ScramServer::new(Hash::Sha256);
    server.handle_client_first(&first.client_first()).unwrap();
    let sf = server.server_first(Some(creds.clone()));
    let fin = first.handle_server_first(&sf).unwrap();
    assert!(server.handle_client_final(&fin).is_ok());
    let (salt, iterations, salted) = first.salted_password().unwrap();
    assert_eq!((salt.as_slice(), iterations), (creds.salt.as_slice(), 4096));

    // The wrong password here proves the cached value is what is used.
    let mut again = ScramClient::new(Hash::Sha256, "u", "not-the-password")
        .with_cached_salted_password(salt, iterations, salted);
    let mut server = ScramServer::new(Hash::Sha256);
    server.handle_client_first(&again.client_first()).unwrap();
    let sf = server.server_first(Some(creds));
    let fin = again.handle_server_first(&sf).unwrap();
    assert!(server.handle_client_final(&fin).is_ok());
}

#[test]
fn verify_password_checks_the_stored_key() {
    for hash in Hash::ALL {
        let c = StoredCredentials::generate(hash, "correct horse", 4096);
        assert_eq!(c.salt.len(), StoredCredentials::SALT_LEN);
        assert_eq!(c.stored_key.len(), hash.output_len());
        assert!(c.verify_password("correct horse"));
        assert!(!c.verify_password("wrong horse"));
        assert!(!c.verify_password(""));
        let again = StoredCredentials::generate(hash, "correct horse", 4096);
        assert_ne!(c.salt, again.salt, "every salt is fresh");
    }
    // The RFC 5802 credentials accept "pencil".
    let salt = B64.decode(RFC5802.salt).unwrap();
    assert!(StoredCredentials::derive(Hash::Sha1, "pencil", &salt, 4096).verify_password("pencil"));
}

#[test]
fn mechanism_names() {
    for hash in Hash::ALL {
        assert_eq!(Hash::from_mechanism(hash.mechanism()), Some(hash));
        assert_eq!(Hash::parse(hash.as_str()), Some(hash));
    }
    assert_eq!(Hash::from_mechanism("SCRAM-SHA-1-PLUS"), None);
    assert_eq!(Hash::from_mechanism("PLAIN"), None);
}
