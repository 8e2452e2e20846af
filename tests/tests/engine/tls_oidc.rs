//! TLS on both listeners, and tokens of a city's own OpenID Connect provider.
//!
//! Every certificate and key is made for the test in a temporary directory: a CA, a server
//! certificate for `localhost`/127.0.0.1 and a client certificate signed by the CA; the
//! identity provider is a P-256 key whose public half is in a JWKS file, and its tokens are
//! ES256 JWTs signed here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gridd_config::{ClientAuth, EngineConfig, OidcConfig, TlsConfig};
use gridd_proto::tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use gridd_proto::tonic::{Code, Status};
use gridd_proto::v1;
use gridd_tests::{Clients, PATIENCE, TestApp, spawn_app_on};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The name the server certificate is issued for.
const SERVER_NAME: &str = "localhost";
/// The identity provider of the tests.
const ISSUER: &str = "https://idp.test/realms/city";
/// The audience gridd's tokens from the provider carry.
const AUDIENCE: &str = "gridd";
/// The id of the provider's signing key in its JWKS.
const KID: &str = "city-idp-1";

// ---------------------------------------------------------------------------------------
// Certificates

/// A CA with a server certificate and a client certificate it signed, as PEM; the CA and the
/// server's files are written to a directory for the engine.
struct Pki {
    /// The CA certificate (PEM): the clients' trust anchor, and the engine's `client_ca`.
    ca_pem: String,
    /// A client certificate signed by the CA (PEM), for a machine.
    client_cert_pem: String,
    /// Its private key (PEM).
    client_key_pem: String,
    /// The CA certificate's file.
    ca_file: PathBuf,
    /// The server certificate's file.
    server_cert_file: PathBuf,
    /// The server key's file.
    server_key_file: PathBuf,
}

impl Pki {
    /// Makes the CA, the server certificate and a client certificate, writing the files into
    /// `dir` under names starting with `prefix`.
    fn new(dir: &Path, prefix: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ca_params.distinguished_name.push(DnType::CommonName, format!("{prefix} 城市管理 test CA"));
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("a server key");
        let mut server_params = CertificateParams::new(vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()]).expect("server parameters");
        server_params.distinguished_name.push(DnType::CommonName, "gridd");
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer).expect("server certificate");

        let client_key = KeyPair::generate().expect("a client key");
        let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        client_params.distinguished_name.push(DnType::CommonName, "camera-gateway-07");
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer).expect("client certificate");

        let write = |name: &str, text: &str| {
            let path = dir.join(format!("{prefix}-{name}"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            path
        };
        let ca_pem = ca_cert.pem();
        Self {
            ca_file: write("ca.pem", &ca_pem),
            server_cert_file: write("server.pem", &server_cert.pem()),
            server_key_file: write("server.key", &server_key.serialize_pem()),
            ca_pem,
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// `[tls]` with these files, client certificates `client_auth`.
    fn tls(&self, client_auth: ClientAuth) -> TlsConfig {
        TlsConfig {
            cert: self.server_cert_file.clone(),
            key: self.server_key_file.clone(),
            client_ca: Some(self.ca_file.clone()),
            client_auth,
        }
    }

    /// The client certificate and key.
    fn client(&self) -> (&str, &str) {
        (&self.client_cert_pem, &self.client_key_pem)
    }
}

/// The tests' engine configuration, with `oidc` and `tls`.
fn engine_config(dir: &Path, oidc: Option<OidcConfig>, tls: Option<TlsConfig>) -> EngineConfig {
    let mut config = gridd_tests::engine_config(dir);
    config.auth.oidc = oidc;
    config.tls = tls;
    config
}

/// Starts an engine with TLS (`client_auth`) and returns it with its PKI.
async fn spawn_tls_app(client_auth: ClientAuth) -> (TestApp, Pki) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path(), "city");
    let config = engine_config(dir.path(), None, Some(pki.tls(client_auth)));
    (spawn_app_on(config, dir).await, pki)
}

/// A gRPC channel over TLS to `addr`, trusting `ca_pem`, presenting `client` (certificate and
/// key PEM) if given.
async fn tls_channel(addr: SocketAddr, ca_pem: &str, client: Option<(&str, &str)>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name(SERVER_NAME);
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint =
        Endpoint::from_shared(format!("https://{addr}")).expect("valid endpoint").tls_config(tls).expect("a TLS client configuration");
    match tokio::time::timeout(PATIENCE, endpoint.connect()).await {
        Ok(connected) => connected.map_err(|e| format!("{e:?}")),
        Err(_) => panic!("connecting to {addr} over TLS neither succeeded nor failed within {PATIENCE:?}"),
    }
}

/// WhoAmI as `credential` over `channel`.
async fn who_am_i(channel: Channel, credential: &str) -> Result<v1::Principal, Status> {
    let mut clients = Clients::on(channel, credential);
    match tokio::time::timeout(PATIENCE, clients.auth.who_am_i(v1::WhoAmIRequest {})).await {
        Ok(answer) => answer.map(|r| r.into_inner()),
        Err(_) => panic!("WhoAmI neither succeeded nor failed within {PATIENCE:?}"),
    }
}

/// WhoAmI over TLS as `credential`: the principal, or why the connection or the call failed.
async fn who_am_i_over_tls(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<(&str, &str)>,
    credential: &str,
) -> Result<v1::Principal, String> {
    let channel = tls_channel(addr, ca_pem, client).await.map_err(|e| format!("connect: {e}"))?;
    who_am_i(channel, credential).await.map_err(|s| call_failure(&s))
}

/// A failed call in words: its code, its message and the chain of errors beneath it (where a
/// transport failure says what happened, e.g. the TLS alert).
fn call_failure(status: &Status) -> String {
    let mut why = format!("call: {:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        why.push_str(&format!(": {e}"));
        source = e.source();
    }
    why
}

/// A failure of a connection that never got to speak gRPC: a transport failure (connecting
/// failed, or the call ended with UNAVAILABLE, UNKNOWN or INTERNAL from the transport), never
/// an answer of the engine's (which would mean the request reached the services).
fn assert_transport_failure(outcome: Result<v1::Principal, String>, what: &str) {
    let why = match outcome {
        Ok(p) => panic!("{what}: the call succeeded as {}", p.subject),
        Err(why) => why,
    };
    assert!(
        why.starts_with("connect: ") || ["call: Unavailable", "call: Unknown", "call: Internal"].iter().any(|c| why.starts_with(c)),
        "{what}: expected a transport failure, got {why}"
    );
}

/// GET `path` over HTTPS (HTTP/1.1 by hand, `Connection: close`) from `addr`, trusting
/// `ca_pem`, presenting `client` if given: the whole response, or why it failed.
async fn https_get(addr: SocketAddr, ca_pem: &str, client: Option<(&str, &str)>, path: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("a CA certificate")).expect("a usable CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("client certificate");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder.with_client_auth_cert(chain, key).expect("a client certificate and its key")
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("TCP connect: {e}"))?;
        let name = ServerName::try_from(SERVER_NAME).expect("a server name");
        let mut tls = connector.connect(name, tcp).await.map_err(|e| format!("TLS handshake: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
        let mut response = Vec::new();
        match tls.read_to_end(&mut response).await {
            Ok(_) => {}
            // A server that closes without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        String::from_utf8(response).map_err(|e| format!("not UTF-8: {e}"))
    };
    match tokio::time::timeout(PATIENCE, exchange).await {
        Ok(result) => result,
        Err(_) => panic!("GET {path} over TLS neither succeeded nor failed within {PATIENCE:?}"),
    }
}

/// Sends `request` in plain text to `addr` and returns whatever comes back before the
/// connection ends (lossily decoded).
async fn plain_text_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("the TLS port accepts TCP");
        let _ = tcp.write_all(request).await;
        let mut response = Vec::new();
        let _ = tcp.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    };
    tokio::time::timeout(PATIENCE, exchange).await.expect("the TLS port answers plain text by closing, not by waiting")
}

/// A city that turns TLS on serves gRPC (dispatch centre, squad terminals, gateways) and HTTP
/// (health probes, metrics) encrypted on the same ports, with one certificate; with client
/// certificates optional, people's clients (no certificate) and machines (a certificate of the
/// city's CA) both get in, a certificate from another CA does not, and nothing answers in
/// plain text.
#[tokio::test]
async fn grpc_and_http_speak_tls_with_and_without_a_client_certificate() {
    let (app, pki) = spawn_tls_app(ClientAuth::Optional).await;

    // gRPC over TLS without a client certificate.
    let principal =
        who_am_i_over_tls(app.grpc_addr, &pki.ca_pem, None, &app.admin_key).await.expect("WhoAmI over TLS without a client certificate");
    assert_eq!(principal.role, "administrator");
    let channel = tls_channel(app.grpc_addr, &pki.ca_pem, None).await.expect("TLS channel");
    let grid = Clients::on(channel, &app.admin_key).grid.get_grid(v1::GetGridRequest::default()).await;
    assert!(grid.is_ok(), "GetGrid over TLS: {:?}", grid.err());

    // With the CA-signed client certificate.
    let principal = who_am_i_over_tls(app.grpc_addr, &pki.ca_pem, Some(pki.client()), &app.admin_key)
        .await
        .expect("WhoAmI over TLS with a client certificate");
    assert_eq!(principal.role, "administrator");

    // A client certificate the city's CA did not sign is refused, although certificates are
    // optional: a client that presents one must present a valid one.
    let rogue_dir = tempfile::tempdir().expect("temp dir");
    let rogue = Pki::new(rogue_dir.path(), "rogue");
    assert_transport_failure(
        who_am_i_over_tls(app.grpc_addr, &pki.ca_pem, Some(rogue.client()), &app.admin_key).await,
        "gRPC with a client certificate of another CA",
    );

    // The engine's certificate is checked by clients: one trusting another CA gets nowhere.
    assert_transport_failure(
        who_am_i_over_tls(app.grpc_addr, &rogue.ca_pem, None, &app.admin_key).await,
        "gRPC from a client that does not trust the engine's CA",
    );

    // Plain text to the TLS gRPC port fails.
    let plain = match Endpoint::from_shared(format!("http://{}", app.grpc_addr)).expect("endpoint").connect().await {
        Err(e) => Err(format!("connect: {e:?}")),
        Ok(channel) => who_am_i(channel, &app.admin_key).await.map_err(|s| call_failure(&s)),
    };
    assert_transport_failure(plain, "plain-text gRPC to the TLS port");

    // HTTP over TLS, without a client certificate.
    let ready = https_get(app.http_addr, &pki.ca_pem, None, "/health/readyz").await.expect("GET /health/readyz over TLS");
    assert!(ready.starts_with("HTTP/1.1 200"), "readyz over TLS: {ready}");
    assert!(ready.ends_with("ready"), "readyz over TLS: {ready}");
    // And with one.
    let ready = https_get(app.http_addr, &pki.ca_pem, Some(pki.client()), "/health/readyz")
        .await
        .expect("GET /health/readyz over TLS with a client certificate");
    assert!(ready.starts_with("HTTP/1.1 200"), "readyz over TLS with a client certificate: {ready}");

    // Plain-text HTTP to the TLS HTTP port gets no HTTP answer.
    let request = format!("GET /health/readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", app.http_addr);
    let answer = plain_text_exchange(app.http_addr, request.as_bytes()).await;
    assert!(!answer.contains("HTTP/1.1 200") && !answer.contains("ready"), "plain-text HTTP on the TLS port answered: {answer:?}");

    app.stop().await;
}

/// A city that requires client certificates (only the city's own machines may connect) relies
/// on the engine turning away every connection without one, on both listeners, and letting
/// in those with a certificate of its CA.
#[tokio::test]
async fn a_required_client_certificate_refuses_clients_without_one() {
    let (app, pki) = spawn_tls_app(ClientAuth::Required).await;

    assert_transport_failure(
        who_am_i_over_tls(app.grpc_addr, &pki.ca_pem, None, &app.admin_key).await,
        "gRPC without a client certificate when one is required",
    );
    let principal = who_am_i_over_tls(app.grpc_addr, &pki.ca_pem, Some(pki.client()), &app.admin_key)
        .await
        .expect("WhoAmI with the required client certificate");
    assert_eq!(principal.role, "administrator");
    let channel = tls_channel(app.grpc_addr, &pki.ca_pem, Some(pki.client())).await.expect("TLS channel with a certificate");
    let grid = Clients::on(channel, &app.admin_key).grid.get_grid(v1::GetGridRequest::default()).await;
    assert!(grid.is_ok(), "GetGrid with a client certificate: {:?}", grid.err());

    // The HTTP listener has the same rule.
    match https_get(app.http_addr, &pki.ca_pem, None, "/health/readyz").await {
        Err(_) => {}
        Ok(response) => panic!("HTTP without a client certificate when one is required was answered: {response}"),
    }
    let ready =
        https_get(app.http_addr, &pki.ca_pem, Some(pki.client()), "/health/readyz").await.expect("readyz with a client certificate");
    assert!(ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready"), "readyz with a client certificate: {ready}");

    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// The city's identity provider

/// An identity provider's signing key: its PKCS#8 form (to sign) and its public point.
struct IdpKey {
    encoding: EncodingKey,
    /// 0x04 || x || y.
    public: Vec<u8>,
}

impl IdpKey {
    /// A new P-256 key.
    fn generate() -> Self {
        use ring::rand::SystemRandom;
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("the key reads back");
        let public = pair.public_key().as_ref().to_vec();
        assert_eq!((public.len(), public[0]), (65, 4), "an uncompressed P-256 point");
        Self { encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), public }
    }

    /// The key's JWK, with `kid`.
    fn jwk(&self, kid: &str) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&self.public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&self.public[33..65]),
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        })
    }

    /// An ES256 token with `claims`, its header naming `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing a token")
    }
}

fn now_seconds() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit")
}

/// The claims of 张伟, a dispatcher, valid for ten minutes.
fn dispatcher_claims() -> Value {
    let now = now_seconds();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "zhang.wei",
        "name": "张伟",
        "preferred_username": "zhangwei",
        "iat": now,
        "exp": now + 600,
        "gridd_role": "dispatcher",
    })
}

/// `claims` with `changes`: a `null` removes the claim.
fn with(claims: &Value, changes: &[(&str, Value)]) -> Value {
    let mut claims = claims.clone();
    let map = claims.as_object_mut().expect("claims are an object");
    for (name, value) in changes {
        if value.is_null() {
            map.remove(*name);
        } else {
            map.insert((*name).to_owned(), value.clone());
        }
    }
    claims
}

/// Asserts that `token` is refused with UNAUTHENTICATED, its message containing `reason`.
async fn assert_refused(app: &TestApp, what: &str, token: &str, reason: &str) {
    let status = app.clients_with(token).auth.who_am_i(v1::WhoAmIRequest {}).await.expect_err(what);
    assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    assert!(status.message().contains(reason), "{what}: the refusal {:?} does not say {reason:?}", status.message());
}

/// Starts an engine (plain text) that trusts a new identity provider, returned with it.
async fn spawn_oidc_app() -> (TestApp, IdpKey) {
    let dir = tempfile::tempdir().expect("temp dir");
    let idp = IdpKey::generate();
    let jwks = dir.path().join("oidc-jwks.json");
    std::fs::write(&jwks, json!({ "keys": [idp.jwk(KID)] }).to_string()).expect("write the JWKS");
    let oidc = OidcConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks,
        role_claim: "gridd_role".into(),
        squad_claim: "gridd_squad".into(),
    };
    let config = engine_config(dir.path(), Some(oidc), None);
    (spawn_app_on(config, dir).await, idp)
}

/// A city whose people sign in at its own identity provider relies on gridd taking that
/// provider's tokens as they are: the person's subject and name, the gridd role the provider
/// grants (with exactly that role's permissions) and, for squad roles, the squad; and on gridd
/// refusing, with a reason a developer can act on, every token that is not the provider's,
/// not for gridd, out of date, or grants no usable role.
#[tokio::test]
async fn tokens_of_the_city_identity_provider_are_trusted() {
    let (app, idp) = spawn_oidc_app().await;

    // A dispatcher.
    let claims = dispatcher_claims();
    let token = idp.sign(KID, &claims);
    let mut dispatcher = app.clients_with(&token);
    let me = dispatcher.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("WhoAmI with the provider's token").into_inner();
    assert_eq!((me.subject.as_str(), me.role.as_str(), me.display_name.as_str()), ("zhang.wei", "dispatcher", "张伟"));
    assert_eq!(me.squad_id, "");
    dispatcher.dispatch.list_tickets(v1::ListTicketsRequest::default()).await.expect("a dispatcher may list tickets");
    let denied = dispatcher.squad.accept_task(Clients::task("sq-1", "nonexistent")).await.expect_err("a dispatcher may not accept tasks");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("dispatcher") && denied.message().contains("AcceptTask"), "{denied:?}");

    // The same token on the HTTP listener: one Access behind both.
    let (code, body) = gridd_tests::http_get_as(app.http_addr, "/v1/auth/me", &token).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("zhang.wei"), "{body}");

    // A squad member of 一中队.
    let member = idp.sign(
        KID,
        &with(
            &claims,
            &[("sub", json!("li.na")), ("name", json!("李娜")), ("gridd_role", json!("squad_member")), ("gridd_squad", json!("sq-1"))],
        ),
    );
    let mut member = app.clients_with(&member);
    let me = member.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("WhoAmI as a squad member").into_inner();
    assert_eq!((me.subject.as_str(), me.role.as_str(), me.squad_id.as_str()), ("li.na", "squad_member", "sq-1"));
    member
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 0, ..Default::default() })
        .await
        .expect("a squad member watches their own squad's tasks");
    let other = member
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-2".into(), after_seq: 0, ..Default::default() })
        .await
        .expect_err("a squad member may not watch another squad's tasks");
    assert_eq!(other.code(), Code::PermissionDenied, "{other:?}");
    assert!(other.message().contains("sq-2"), "{other:?}");

    // Refusals, each with its reason.
    let wrong_issuer = idp.sign(KID, &with(&claims, &[("iss", json!("https://idp.test/realms/elsewhere"))]));
    assert_refused(&app, "another issuer", &wrong_issuer, "issuer").await;
    let wrong_audience = idp.sign(KID, &with(&claims, &[("aud", json!("payroll"))]));
    assert_refused(&app, "another audience", &wrong_audience, "audience").await;
    let now = now_seconds();
    let expired = idp.sign(KID, &with(&claims, &[("iat", json!(now - 7200)), ("exp", json!(now - 3600))]));
    assert_refused(&app, "an expired token", &expired, "expired").await;
    let unknown_kid = idp.sign("city-idp-2", &claims);
    assert_refused(&app, "a key id not in the JWKS", &unknown_kid, "neither gridd's nor the identity provider's").await;
    let impostor = IdpKey::generate().sign(KID, &claims);
    assert_refused(&app, "another P-256 key under the provider's key id", &impostor, "signature").await;
    let no_role = idp.sign(KID, &with(&claims, &[("gridd_role", Value::Null)]));
    assert_refused(&app, "no role claim", &no_role, "gridd_role").await;
    let not_a_role = idp.sign(KID, &with(&claims, &[("gridd_role", json!("mayor"))]));
    assert_refused(&app, "a role claim that is no gridd role", &not_a_role, "gridd_role").await;
    let no_squad = idp.sign(KID, &with(&claims, &[("gridd_role", json!("squad_member"))]));
    assert_refused(&app, "a squad member without a squad claim", &no_squad, "gridd_squad").await;
    let no_subject = idp.sign(KID, &with(&claims, &[("sub", Value::Null)]));
    assert_refused(&app, "no sub claim", &no_subject, "sub").await;
    let never_expires = idp.sign(KID, &with(&claims, &[("exp", Value::Null)]));
    assert_refused(&app, "a token without exp", &never_expires, "claim").await;

    // Algorithm confusion: an HS256 token "signed" with the provider's public key as the
    // secret, under the provider's key id.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.into());
    let confused = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&idp.public)).expect("an HS256 token");
    assert_refused(&app, "an HS256 token keyed with the provider's public key", &confused, "algorithm").await;

    // A refused token is refused on the HTTP listener too.
    let (code, body) = gridd_tests::http_get_as(app.http_addr, "/v1/auth/me", &impostor).await;
    assert_eq!(code, 401, "{body}");

    app.stop().await;
}

/// The audience and issuer checks are what keep a token the provider issued to another of
/// the city's applications (or under another realm sharing the key) out of gridd; a city
/// relies on them holding also when the claim is left out, not only when it names someone
/// else, and on a token that is not valid yet (`nbf`) being refused until it is.
#[tokio::test]
async fn provider_tokens_without_audience_or_issuer_or_not_yet_valid_are_refused() {
    let (app, idp) = spawn_oidc_app().await;
    let claims = dispatcher_claims();
    let now = now_seconds();
    let cases = [
        ("a token without aud", with(&claims, &[("aud", Value::Null)])),
        ("a token without iss", with(&claims, &[("iss", Value::Null)])),
        ("a token valid only from an hour from now (nbf)", with(&claims, &[("nbf", json!(now + 3600))])),
    ];
    let mut wrong = Vec::new();
    for (what, claims) in &cases {
        match app.clients_with(&idp.sign(KID, claims)).auth.who_am_i(v1::WhoAmIRequest {}).await {
            Ok(me) => wrong.push(format!("{what} was accepted as {} ({})", me.get_ref().subject, me.get_ref().role)),
            Err(status) if status.code() == Code::Unauthenticated && status.message().len() > "unauthenticated: ".len() => {}
            Err(status) => wrong.push(format!("{what} was refused with {:?}: {}", status.code(), status.message())),
        }
    }
    assert!(wrong.is_empty(), "expected UNAUTHENTICATED with a reason:\n{}", wrong.join("\n"));
    app.stop().await;
}
