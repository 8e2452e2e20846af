//! `gridd user …`, `gridd key …` and `gridd audit`: managing who may sign in, on the store the
//! engine file names (the SQLite file, or the distributed mode's PostgreSQL). They work while
//! the engine runs; a change reaches every process within a minute.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use gridd_access::admin::{self, NewAccount, NewKey};
use gridd_config::CityConfig;
use gridd_store::{ReadTx, Store};

/// Most audit entries `gridd audit` reads.
const AUDIT_READ: usize = 1_000_000;

/// `gridd user` subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account. The password is read from standard input (asked for on a terminal).
    Add {
        /// User name: a-z, 0-9, '.', '_' and '-'.
        username: String,
        /// Role: hotline_operator, dispatcher, shift_leader, supervisor, squad_member,
        /// squad_leader, leadership or administrator.
        #[arg(id = "account_role", value_name = "ROLE")]
        role: String,
        /// Squad id, for squad members and leaders.
        #[arg(long)]
        squad: Option<String>,
        /// Name shown to people (default: the user name).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List accounts.
    List,
    /// Disable an account: it can no longer sign in, and its tokens stop working within a
    /// minute.
    Disable {
        /// User name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// User name.
        username: String,
    },
    /// Set a new password, read from standard input (asked for on a terminal).
    Passwd {
        /// User name.
        username: String,
    },
}

/// `gridd key` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a machine key and print it once (it is stored only hashed).
    Create {
        /// Role: camera_gateway, citizen_app, hotline_12345, monitoring or administrator.
        #[arg(id = "key_role", value_name = "ROLE")]
        role: String,
        /// What it is for, e.g. "新安街道视频网关".
        #[arg(long)]
        name: String,
        /// Cameras a camera gateway may send for, comma-separated.
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
    },
    /// List machine keys (never their secrets).
    List,
    /// Revoke a key: it stops working within a minute.
    Revoke {
        /// The key's id (the part after `gk_`, as `gridd key list` shows it).
        id: String,
    },
}

/// What to do.
#[derive(Debug)]
pub enum AdminCommand {
    /// Accounts.
    User(UserCommand),
    /// Machine keys.
    Key(KeyCommand),
    /// The last entries of the audit log.
    Audit {
        /// How many.
        last: usize,
    },
}

/// Runs an admin command on the store of the engine file `config`.
pub async fn run(config: &Path, command: AdminCommand) -> anyhow::Result<()> {
    let (engine, city) = crate::cli::load(config)?;
    match &engine.distributed {
        None => {
            let store = gridd_store::sqlite::SqliteStore::open(&engine.sqlite)
                .with_context(|| format!("opening the store {}", engine.sqlite.display()))?;
            on_store(&store, &city, command).await
        }
        Some(d) => {
            let store = crate::engine::connect_postgres(d.postgres.clone()).await?;
            on_store(&store, &city, command).await
        }
    }
}

/// Who is making the change, for the audit log.
fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

async fn on_store<S: Store>(store: &S, city: &CityConfig, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::User(UserCommand::Add { username, role, squad, name }) => {
            let password = read_password(&format!("password for {username}"))?;
            let new = NewAccount { username, display_name: name, role, squad, password };
            let account = admin::add_user(store, city, new, &actor()).await?;
            println!("added {} ({}, role {})", account.username, account.display_name, account.role);
        }
        AdminCommand::User(UserCommand::List) => {
            println!("{:<24} {:<16} {:<14} {:<9} name", "username", "role", "squad", "state");
            for a in admin::list_users(store).await? {
                let state = if a.disabled { "disabled" } else { "active" };
                println!("{:<24} {:<16} {:<14} {:<9} {}", a.username, a.role, a.squad.unwrap_or_default(), state, a.display_name);
            }
        }
        AdminCommand::User(UserCommand::Disable { username }) => {
            admin::set_disabled(store, &username, true, &actor()).await?;
            println!("disabled {username}; its tokens stop working within a minute");
        }
        AdminCommand::User(UserCommand::Enable { username }) => {
            admin::set_disabled(store, &username, false, &actor()).await?;
            println!("enabled {username}");
        }
        AdminCommand::User(UserCommand::Passwd { username }) => {
            let password = read_password(&format!("new password for {username}"))?;
            admin::set_password(store, &username, &password, &actor()).await?;
            println!("password of {username} changed");
        }
        AdminCommand::Key(KeyCommand::Create { name, role, cameras }) => {
            let (key, text) = admin::create_key(store, city, NewKey { name, role, cameras }, &actor()).await?;
            eprintln!("created key {} ({}, role {}); it is shown once, keep it secret:", key.id, key.name, key.role);
            println!("{text}");
        }
        AdminCommand::Key(KeyCommand::List) => {
            println!("{:<18} {:<16} {:<9} {:<20} name", "id", "role", "state", "cameras");
            for k in admin::list_keys(store).await? {
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{:<18} {:<16} {:<9} {:<20} {}", k.id, k.role, state, k.cameras.join(","), k.name);
            }
        }
        AdminCommand::Key(KeyCommand::Revoke { id }) => {
            admin::revoke_key(store, &id, &actor()).await?;
            println!("revoked key {id}; it stops working within a minute");
        }
        AdminCommand::Audit { last } => {
            let entries = store.read(|tx: &mut dyn ReadTx| tx.audit_log(0, AUDIT_READ)).await?;
            let offset = city.calendar.offset();
            for e in entries.iter().rev().take(last).rev() {
                println!(
                    "{} {:<14} {:<20} {:<20} {:<15} {}",
                    e.at.local(offset).format("%Y-%m-%d %H:%M:%S"),
                    e.action,
                    e.actor,
                    e.target,
                    e.address,
                    e.outcome
                );
            }
        }
    }
    Ok(())
}

/// Reads a password: asked for on a terminal (typed twice), else the first line of standard
/// input (`echo "$PASSWORD" | gridd user add …`).
fn read_password(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = ask(&format!("{what} (shown as typed; clear the screen after)"))?;
    let second = ask("again")?;
    anyhow::ensure!(first == second, "the two passwords differ; nothing changed");
    Ok(first)
}
