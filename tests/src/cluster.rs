//! Distributed deployments for tests: gridd role processes on the PostgreSQL and the Kafka
//! broker the test script started (`GRIDD_TEST_POSTGRES_URL`, `GRIDD_TEST_KAFKA_BROKERS`),
//! or on a broker of the test's own ([`Broker`], from `GRIDD_TEST_TANSU`) that it can freeze.
//! Each deployment gets a fresh database and topics under a prefix of its own, so tests never
//! see each other's data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{EngineProcess, PATIENCE, test_city};

fn required_env(name: &str, what: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with tests/run.sh, which provides {what}"))
}

/// A name no other deployment of this test run uses.
fn unique_name(stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{stem}_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// One deployment: a gridd.toml with a `[distributed]` section, from which role processes
/// start.
pub struct Cluster {
    dir: tempfile::TempDir,
    config: PathBuf,
    /// The topic prefix of this deployment.
    pub prefix: String,
    /// The broker's bootstrap address.
    pub brokers: String,
}

impl Cluster {
    /// A deployment on the suite's broker.
    pub fn new() -> Self {
        Self::on_broker(&required_env("GRIDD_TEST_KAFKA_BROKERS", "a Kafka-protocol broker"))
    }

    /// A deployment on `brokers`, with a fresh database on the suite's PostgreSQL.
    pub fn on_broker(brokers: &str) -> Self {
        let admin = required_env("GRIDD_TEST_POSTGRES_URL", "PostgreSQL");
        let name = unique_name("gridd_cluster");
        let database = gridd_store::postgres::create_database(&admin, &name).expect("create the deployment's database");
        let prefix = format!("{name}.");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("gridd.toml");
        let text = format!(
            "city = {city:?}\n[server]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[reload]\npoll = \"1h\"\n\
             [distributed]\npostgres = {database:?}\nkafka = {brokers:?}\ntopic_prefix = {prefix:?}\npartitions = 4\n",
            city = test_city().display().to_string(),
        );
        std::fs::write(&config, text).expect("write the deployment's config");
        Self { dir, config, prefix, brokers: brokers.to_owned() }
    }

    /// Starts a process running `roles` (e.g. `"ingest,gateway"`) with intake node `node`,
    /// and waits until it reports ready (its database and broker answer).
    pub async fn start(&self, roles: &str, node: u8) -> EngineProcess {
        let process = self.spawn(roles, node);
        process.wait_ready().await;
        process
    }

    /// [`Cluster::start`] without waiting for readiness: returns once the process listens.
    pub fn spawn(&self, roles: &str, node: u8) -> EngineProcess {
        EngineProcess::spawn(&self.config, &["--role", roles, "--node", &node.to_string()])
    }

    /// Where this deployment's files are.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

/// A local port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A tansu broker process of the test's own, on a free port, that can be frozen.
pub struct Broker {
    child: Child,
    /// Its bootstrap address.
    pub address: SocketAddr,
}

impl Broker {
    /// Starts the broker on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the broker on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Self {
        let tansu = required_env("GRIDD_TEST_TANSU", "the tansu broker binary");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu never listened on {address}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, address }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Broker::freeze`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill").args([which, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {which} the broker");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
