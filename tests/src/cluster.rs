//! Distributed deployments for tests: gridd role processes on the PostgreSQL and the Kafka
//! broker the test script started (`GRIDD_TEST_POSTGRES_URL`, `GRIDD_TEST_KAFKA_BROKERS`),
//! or on a broker ([`Broker`], from `GRIDD_TEST_TANSU`) or a PostgreSQL server ([`Postgres`],
//! from `GRIDD_TEST_POSTGRES_BIN`) of the test's own, which it can freeze or stop.
//! Each deployment gets a fresh database and topics under a prefix of its own, so tests never
//! see each other's data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{EngineProcess, PATIENCE, cli_key, test_auth_section, test_city};

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
    /// An administrator's machine key, created with `gridd key create` on the deployment's
    /// database.
    pub key: String,
}

impl Cluster {
    /// A deployment on the suite's broker.
    pub fn new() -> Self {
        Self::on_broker(&required_env("GRIDD_TEST_KAFKA_BROKERS", "a Kafka-protocol broker"))
    }

    /// A deployment on `brokers`, with a fresh database on the suite's PostgreSQL.
    pub fn on_broker(brokers: &str) -> Self {
        Self::on(&required_env("GRIDD_TEST_POSTGRES_URL", "PostgreSQL"), brokers)
    }

    /// A deployment on the suite's broker, with a fresh database on the PostgreSQL server at
    /// `admin_url` (one of the test's own, say, that it can stop).
    pub fn on_postgres(admin_url: &str) -> Self {
        Self::on(admin_url, &required_env("GRIDD_TEST_KAFKA_BROKERS", "a Kafka-protocol broker"))
    }

    fn on(admin_url: &str, brokers: &str) -> Self {
        let name = unique_name("gridd_cluster");
        let database = gridd_store::postgres::create_database(admin_url, &name).expect("create the deployment's database");
        let prefix = format!("{name}.");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("gridd.toml");
        let text = format!(
            "city = {city:?}\n[server]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[reload]\npoll = \"1h\"\n\
             [distributed]\npostgres = {database:?}\nkafka = {brokers:?}\ntopic_prefix = {prefix:?}\npartitions = 4\n{auth}",
            city = test_city().display().to_string(),
            auth = test_auth_section(),
        );
        std::fs::write(&config, text).expect("write the deployment's config");
        let key = cli_key(&config, "administrator");
        Self { dir, config, prefix, brokers: brokers.to_owned(), key }
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
        EngineProcess::spawn(&self.config, &["--role", roles, "--node", &node.to_string()], &self.key)
    }

    /// Its engine file.
    pub fn config(&self) -> &std::path::Path {
        &self.config
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

/// A PostgreSQL server of the test's own, in a fresh data directory on a free port, that can
/// be stopped the hard way and started again on the same data, or frozen.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// Its administrative URL (user `postgres`, database `postgres`).
    pub url: String,
}

impl Postgres {
    /// Creates the data directory and starts the server; returns once it accepts connections.
    pub fn start() -> Self {
        let bin = PathBuf::from(required_env("GRIDD_TEST_POSTGRES_BIN", "PostgreSQL's programs"));
        let data = std::env::temp_dir().join(unique_name("gridd_postgres"));
        std::fs::create_dir(&data).expect("create the data directory");
        if running_as_root() {
            // The server refuses to run as root: its files belong to the postgres user.
            let chown = Command::new("chown").arg("postgres:postgres").arg(&data).status().expect("run chown");
            assert!(chown.success(), "chown the data directory to postgres");
        }
        let port = free_port();
        let server = Self { url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), bin, data, port };
        server.as_postgres("initdb", &["-D", &server.data(), "-A", "trust", "-U", "postgres"]);
        server.start_again();
        server
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`): every connection is cut,
    /// nothing is flushed that a crash would not flush.
    pub fn crash(&self) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }

    /// SIGSTOP to the server and every process it started: connections stay open, nothing
    /// answers (a stalled disk or host looks like this).
    pub fn freeze(&self) {
        self.signal_all("-STOP");
    }

    /// SIGCONT after [`Postgres::freeze`].
    pub fn resume(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, which: &str) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).expect("postmaster.pid: the server runs");
        let postmaster = pid_file.lines().next().expect("the postmaster's pid").trim().to_owned();
        let children = Command::new("pgrep").args(["-P", &postmaster]).output().expect("run pgrep");
        let mut pids = vec![postmaster];
        pids.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_owned));
        let status = Command::new("kill").arg(which).args(&pids).status().expect("run kill");
        assert!(status.success(), "kill {which} the PostgreSQL processes {pids:?}");
    }

    /// Starts the server (again) on its data directory and port; waits until it answers.
    pub fn start_again(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data());
        let log = format!("{}/server.log", self.data());
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    fn data(&self) -> String {
        self.data.display().to_string()
    }

    /// Runs one of PostgreSQL's programs as the postgres user; its failure fails the test.
    fn as_postgres(&self, program: &str, args: &[&str]) {
        let output = self.command(program, args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).stdin(Stdio::null());
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
