//! Test harness: starts the real engine — in this process on free ports ([`spawn_app`]), or
//! as a separate `gridd` process that a test can `kill -9` ([`EngineProcess`]) — on the test
//! city (the demo grid with limits of seconds), and gives typed gRPC clients.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use gridd::engine::Engine;
use gridd_access::client::Bearer;
use gridd_config::{AuthConfig, EngineConfig, LogRetention, load_city};
use gridd_core::time::SystemClock;
use gridd_proto::tonic::service::interceptor::InterceptedService;
use gridd_proto::tonic::transport::{Channel, Endpoint};
use gridd_proto::tonic::{Code, Status};
use gridd_proto::v1;
use gridd_proto::v1::auth_service_client::AuthServiceClient;
use gridd_proto::v1::dispatch_service_client::DispatchServiceClient;
use gridd_proto::v1::grid_service_client::GridServiceClient;
use gridd_proto::v1::intake_service_client::IntakeServiceClient;
use gridd_proto::v1::squad_service_client::SquadServiceClient;
use tokio_util::sync::CancellationToken;

pub mod cluster;

/// Longest any wait in a test lasts before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A point in 新安街道 on the demo grid (on the edge between cells 320381001011017 and
/// 320381001011018; by the north-east rule it lies in 018), whose territorial squad is
/// 一中队 (`sq-1`).
pub const XINAN: (f64, f64) = (118.350, 34.372);

/// The test city's `city.toml`.
pub fn test_city() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/city/city.toml")
}

/// A channel that sends one identity's credentials.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Intake limits high enough that no test's burst meets them (the limit has tests of its own).
pub const TEST_INTAKE_RATE: u32 = 1_000_000;

/// gRPC clients of one engine, all with one identity's credentials.
#[derive(Clone)]
pub struct Clients {
    /// IntakeService.
    pub intake: IntakeServiceClient<Authed>,
    /// DispatchService.
    pub dispatch: DispatchServiceClient<Authed>,
    /// SquadService.
    pub squad: SquadServiceClient<Authed>,
    /// GridService.
    pub grid: GridServiceClient<Authed>,
    /// AuthService.
    pub auth: AuthServiceClient<Authed>,
    /// The channel with the credentials, for other clients (reflection).
    pub authed: Authed,
    /// The channel without credentials (health, signing in, refusals).
    pub channel: Channel,
}

impl Clients {
    /// Connects to `addr` with `credential` (a token or machine key).
    pub async fn connect(addr: SocketAddr, credential: &str) -> Self {
        let channel = Endpoint::from_shared(format!("http://{addr}")).expect("valid endpoint").connect().await.expect("engine reachable");
        Self::on(channel, credential)
    }

    /// Clients of `addr` that connect on their first call and again after a lost connection:
    /// for a process that may die, calls to it fail with `UNAVAILABLE` rather than the test.
    pub fn lazy(addr: SocketAddr, credential: &str) -> Self {
        Self::on(Endpoint::from_shared(format!("http://{addr}")).expect("valid endpoint").connect_lazy(), credential)
    }

    /// Clients over `channel` with `credential`.
    pub fn on(channel: Channel, credential: &str) -> Self {
        let authed = InterceptedService::new(channel.clone(), Bearer::new(credential).expect("a printable credential"));
        Self {
            intake: IntakeServiceClient::new(authed.clone()),
            dispatch: DispatchServiceClient::new(authed.clone()),
            squad: SquadServiceClient::new(authed.clone()),
            grid: GridServiceClient::new(authed.clone()),
            auth: AuthServiceClient::new(authed.clone()),
            authed,
            channel,
        }
    }

    /// The same engine, as someone else.
    pub fn as_identity(&self, credential: &str) -> Self {
        Self::on(self.channel.clone(), credential)
    }

    /// Logs a hotline call of `category` at `point` (WGS84) and returns its reference.
    pub async fn hotline(&mut self, key: &str, category: &str, point: Option<(f64, f64)>) -> Result<v1::IntakeReceipt, Status> {
        self.intake.log_hotline_call(hotline_call(key, category, point)).await.map(|r| r.into_inner())
    }

    /// Waits until the report `reference` is part of a case and returns the case.
    pub async fn ticket_of(&mut self, reference: &str) -> v1::Ticket {
        self.ticket_of_within(reference, PATIENCE).await
    }

    /// [`Clients::ticket_of`], waiting up to `patience`.
    pub async fn ticket_of_within(&mut self, reference: &str, patience: Duration) -> v1::Ticket {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let req = v1::GetTicketRequest { id: reference.into(), include_history: false, ..Default::default() };
            match self.dispatch.get_ticket(req).await {
                Ok(r) => {
                    if let Some(t) = r.into_inner().ticket {
                        return t;
                    }
                }
                Err(s) if s.code() == Code::NotFound => {}
                Err(s) => panic!("GetTicket({reference}) failed: {s}"),
            }
            assert!(tokio::time::Instant::now() < deadline, "report {reference} was never placed in a case");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The case `id` with its history.
    pub async fn history(&mut self, id: &str) -> (v1::Ticket, Vec<v1::TicketEvent>) {
        let r = self
            .dispatch
            .get_ticket(v1::GetTicketRequest { id: id.into(), include_history: true, ..Default::default() })
            .await
            .expect("ticket exists")
            .into_inner();
        (r.ticket.expect("a case, not a pending report"), r.history)
    }

    /// Waits until case `id` satisfies `done`, returning it.
    pub async fn wait_for(
        &mut self,
        id: &str,
        what: &str,
        done: impl Fn(&v1::Ticket, &[v1::TicketEvent]) -> bool,
    ) -> (v1::Ticket, Vec<v1::TicketEvent>) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (t, h) = self.history(id).await;
            if done(&t, &h) {
                return (t, h);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "case {id} never got to: {what}; it is {:?} with history {:#?}",
                t.state(),
                h.iter().map(|e| &e.detail).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a squad command.
    pub fn task(squad: &str, ticket: &str) -> v1::TaskCommand {
        v1::TaskCommand { squad_id: squad.into(), ticket_id: ticket.into(), ..Default::default() }
    }

    /// A command context with no expected version and no note.
    pub fn operator() -> Option<v1::CommandContext> {
        Some(v1::CommandContext::default())
    }
}

/// A hotline call request.
pub fn hotline_call(key: &str, category: &str, point: Option<(f64, f64)>) -> v1::LogHotlineCallRequest {
    v1::LogHotlineCallRequest {
        idempotency_key: key.into(),
        hotline: v1::Hotline::Hotline12345.into(),
        caller: Some(v1::Caller { name: "张三".into(), phone: "13812345678".into(), reply_required: true, confidential: false }),
        category: category.into(),
        location: point.map(|(lon, lat)| v1::GeoPoint { lon, lat, crs: v1::CoordSystem::Wgs84.into() }),
        address: "新安路".into(),
        description: "路边有垃圾".into(),
        ..Default::default()
    }
}

/// The `i`-th of a lattice of points 200 m apart around the city centre: reports there never
/// merge with each other.
pub fn spread_point(i: usize) -> (f64, f64) {
    (118.30 + (i % 40) as f64 * 0.0022, 34.33 + (i / 40) as f64 * 0.0019)
}

/// An engine running in this process.
pub struct TestApp {
    /// Clients, signed in with an administrator's machine key.
    pub clients: Clients,
    /// That key.
    pub admin_key: String,
    /// The engine's store (the same SQLite file), to add accounts and keys.
    pub store: gridd_store::sqlite::SqliteStore,
    /// The engine's city.
    pub city: gridd_config::CityHandle,
    /// Where it listens.
    pub grpc_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

/// Starts the engine in this process on free ports, a fresh SQLite file and the test city.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&test_city()).await
}

/// [`spawn_app`] on the city at `city_path`, whose files are checked for edits every 100 ms.
pub async fn spawn_app_with(city_path: &Path) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = EngineConfig { city: city_path.to_path_buf(), ..engine_config(dir.path()) };
    spawn_app_on(config, dir).await
}

/// The tests' embedded engine configuration: the test city, free ports, SQLite in `dir`, no
/// TLS, intake limits out of the way; tests change what they exercise.
pub fn engine_config(dir: &Path) -> EngineConfig {
    EngineConfig {
        city: test_city(),
        grpc_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        sqlite: dir.join("gridd.db"),
        distributed: None,
        intake_node: 0,
        reload_poll: Duration::from_millis(100),
        auth: AuthConfig { intake_rate: TEST_INTAKE_RATE, intake_burst: TEST_INTAKE_RATE, ..AuthConfig::default() },
        tls: None,
        retention: LogRetention::default(),
    }
}

/// Starts the engine in this process with `config` (its store in `dir`).
pub async fn spawn_app_on(config: EngineConfig, dir: tempfile::TempDir) -> TestApp {
    spawn_app_at(config, dir, Arc::new(SystemClock)).await
}

/// [`spawn_app_on`] with the engine reading the time from `clock` (e.g. an accelerated clock
/// started before a month's end).
pub async fn spawn_app_at(config: EngineConfig, dir: tempfile::TempDir, clock: Arc<dyn gridd_core::time::Clock>) -> TestApp {
    let city = load_city(&config.city).unwrap_or_else(|e| panic!("test city: {e}"));
    let engine = Engine::start(&config, city, clock).await.expect("engine starts");
    let (grpc_addr, http_addr, shutdown, city) = (engine.grpc_addr(), engine.http_addr(), engine.shutdown_token(), engine.city().clone());
    let handle = tokio::spawn(engine.run_until_stopped());
    let store = gridd_store::sqlite::SqliteStore::open(&config.sqlite).expect("the engine's store opens");
    let admin_key = create_key(&store, &city, "administrator", &[]).await;
    let clients = if config.tls.is_some() {
        // TLS tests connect their own clients.
        Clients::on(Endpoint::from_static("http://127.0.0.1:1").connect_lazy(), &admin_key)
    } else {
        Clients::connect(grpc_addr, &admin_key).await
    };
    TestApp { clients, admin_key, store, city, grpc_addr, http_addr, shutdown, handle, _dir: dir }
}

/// The password of every account tests create.
pub const TEST_PASSWORD: &str = "test-password-1";

/// Creates a machine key with `role` (and `cameras`) and returns its text.
pub async fn create_key<S: gridd_store::Store>(store: &S, city: &gridd_config::CityHandle, role: &str, cameras: &[&str]) -> String {
    let new = gridd_access::admin::NewKey {
        name: format!("test {role}"),
        role: role.into(),
        cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
    };
    gridd_access::admin::create_key(store, &city.current(), new, "tests").await.unwrap_or_else(|e| panic!("creating a {role} key: {e}")).1
}

/// Creates an account (password [`TEST_PASSWORD`]).
pub async fn create_user<S: gridd_store::Store>(
    store: &S,
    city: &gridd_config::CityHandle,
    username: &str,
    role: &str,
    squad: Option<&str>,
) {
    let new = gridd_access::admin::NewAccount {
        username: username.into(),
        display_name: String::new(),
        role: role.into(),
        squad: squad.map(str::to_owned),
        password: TEST_PASSWORD.into(),
    };
    gridd_access::admin::add_user(store, &city.current(), new, "tests").await.unwrap_or_else(|e| panic!("creating {username}: {e}"));
}

impl TestApp {
    /// A new machine key with `role`.
    pub async fn key(&self, role: &str, cameras: &[&str]) -> String {
        create_key(&self.store, &self.city, role, cameras).await
    }

    /// A new account, signed in: its access token.
    pub async fn sign_in_as(&self, username: &str, role: &str, squad: Option<&str>) -> String {
        create_user(&self.store, &self.city, username, role, squad).await;
        let mut auth = AuthServiceClient::new(self.clients.channel.clone());
        let request = v1::SignInRequest { username: username.into(), password: TEST_PASSWORD.into() };
        auth.sign_in(request).await.unwrap_or_else(|s| panic!("signing in as {username}: {s}")).into_inner().access_token
    }

    /// Clients with `credential`.
    pub fn clients_with(&self, credential: &str) -> Clients {
        self.clients.as_identity(credential)
    }

    /// Stops the engine and checks it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("engine task").expect("engine stopped cleanly");
    }
}

/// Path of the `gridd` binary next to this test's executable (cargo builds it into the same
/// target directory; the test script builds it before the suite).
pub fn gridd_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("gridd");
    assert!(binary.exists(), "{} is missing: build it first with `cargo build -p gridd`", binary.display());
    binary
}

/// A `gridd run` process.
pub struct EngineProcess {
    child: Child,
    /// An administrator's machine key for it.
    pub key: String,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where HTTP (metrics, health) listens.
    pub http_addr: SocketAddr,
}

impl EngineProcess {
    /// Writes an embedded-mode engine config for `data_dir` (SQLite there, ports picked by the
    /// OS) and starts `gridd run` on it, returning once it listens.
    pub fn start(data_dir: &Path) -> Self {
        let config = data_dir.join("gridd.toml");
        let text = format!(
            "city = {:?}\n[server]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[store]\nsqlite = \"gridd.db\"\n{}",
            test_city().display().to_string(),
            test_auth_section(),
        );
        std::fs::write(&config, text).expect("write engine config");
        // One administrator key per data directory, so a restarted engine is called by the
        // same identity (whose idempotency keys it remembers).
        let key_file = data_dir.join("admin.key");
        let key = std::fs::read_to_string(&key_file).unwrap_or_else(|_| {
            let key = cli_key(&config, "administrator");
            std::fs::write(&key_file, &key).expect("write the key file");
            key
        });
        Self::spawn(&config, &[], &key)
    }

    /// Starts `gridd --config <config> <args…> run`, returning once it listens; `key` is the
    /// credential tests use with it.
    pub fn spawn(config: &Path, args: &[&str], key: &str) -> Self {
        let mut child = Command::new(gridd_binary())
            .args(["--config", &config.display().to_string()])
            .args(args)
            .arg("run")
            // GRIDD_TEST_LOG (a RUST_LOG filter) shows more of what the processes do.
            .env("RUST_LOG", std::env::var("GRIDD_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gridd");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "gridd is running: gRPC on <addr>, metrics and health on http://<addr>"
                if let Some(rest) = line.strip_prefix("gridd is running: gRPC on ") {
                    let (grpc, http) = rest.split_once(", metrics and health on http://").unwrap_or_default();
                    let _ = tx.send((grpc.trim().to_owned(), http.trim().to_owned()));
                }
            }
        });
        let (grpc, http) = rx.recv_timeout(PATIENCE).expect("gridd printed its addresses");
        Self {
            child,
            key: key.to_owned(),
            grpc_addr: grpc.parse().expect("a gRPC socket address"),
            http_addr: http.parse().expect("an HTTP socket address"),
        }
    }

    /// Clients of this process, with its administrator key.
    pub async fn clients(&self) -> Clients {
        Clients::connect(self.grpc_addr, &self.key).await
    }

    /// Waits until `/health/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while http_get(self.http_addr, "/health/readyz").await.0 != 200 {
            assert!(tokio::time::Instant::now() < deadline, "gridd on {} never became ready", self.http_addr);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits for the process to finish its shutdown; panics unless it exits
    /// cleanly within [`PATIENCE`].
    pub fn terminate(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "SIGTERM gridd");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait for gridd") {
                assert!(exit.success(), "gridd exits cleanly on SIGTERM: {exit}");
                return;
            }
            assert!(std::time::Instant::now() < deadline, "gridd did not stop within {PATIENCE:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL gridd");
        let _ = self.child.wait();
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[auth]` section of the tests' engine files.
pub fn test_auth_section() -> String {
    format!("[auth]\nintake_rate = {TEST_INTAKE_RATE}\nintake_burst = {TEST_INTAKE_RATE}\n")
}

/// Runs `gridd --config <config> <args…>` to completion and returns its standard output;
/// panics with its standard error unless it succeeds.
pub fn gridd_cli(config: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(gridd_binary())
        .args(["--config", &config.display().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gridd");
    child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("gridd ran");
    assert!(out.status.success(), "gridd {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A machine key with `role`, created with `gridd key create` on the store of `config`.
pub fn cli_key(config: &Path, role: &str) -> String {
    gridd_cli(config, &["key", "create", role, "--name", "tests"], "").trim().to_owned()
}

/// GET `path` over plain HTTP/1.1 with `authorization: Bearer <credential>`.
pub async fn http_get_as(addr: SocketAddr, path: &str, credential: &str) -> (u16, String) {
    http_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {credential}\r\nConnection: close\r\n\r\n"))
        .await
}

/// POST a JSON `body` to `path` over plain HTTP/1.1.
pub async fn http_post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_request(addr, &request).await
}

/// GET `path` over plain HTTP/1.1: the status code and the whole response. A refused
/// connection reads as status 0.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")).await
}

/// Sends one raw HTTP/1.1 request: the status code and the whole response.
async fn http_request(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return (0, String::new()) };
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, response)
}

/// POST a JSON `body` to `path` over plain HTTP/1.1 with `authorization: Bearer <credential>`:
/// the status code and the whole response.
pub async fn http_post_json_as(addr: SocketAddr, path: &str, body: &str, credential: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {credential}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_request(addr, &request).await
}

/// An HTTP/1.1 response taken apart by [`http_call`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers in order, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, with a chunked transfer coding removed (as text; see `bytes`).
    pub body: String,
    /// The body's bytes.
    pub bytes: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the response when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {self:?}"))
    }
}

/// Sends one HTTP/1.1 request (`method path`, the extra `headers`, and `body` with its
/// length when not empty) and reads the whole response, taken apart; panics if the
/// connection fails or the response is not HTTP.
pub async fn http_call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    http_send(addr, method, path, headers, body.as_bytes()).await
}

/// [`http_call`] with a body of any bytes (an image).
pub async fn http_send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.write_all(&[request.as_bytes(), body].concat()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no end of headers: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned(), bytes: body }
}

/// Removes the chunked transfer coding from a complete body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}
