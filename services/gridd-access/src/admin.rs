//! Managing accounts and machine keys: what `gridd user …` and `gridd key …` do, and how the
//! demo creates its accounts. Every change is validated against the city (squads, cameras)
//! and written with its audit entry in one transaction.

use gridd_config::CityConfig;
use gridd_core::ids::{CameraId, SquadId};
use gridd_store::{Account, MachineKey, ReadTx, Store, WriteTx};

use crate::access::{audit_entry, now};
use crate::error::AccessError;
use crate::permission::Role;
use crate::secret;
use gridd_core::error::quote;

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// User name: 1..64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Role id.
    pub role: String,
    /// Squad id, for squad members and leaders.
    pub squad: Option<String>,
    /// The initial password.
    pub password: String,
}

fn check_username(username: &str) -> Result<(), AccessError> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(AccessError::invalid("username", "must be 1..64 characters of a-z, 0-9, '.', '_' and '-'")) }
}

fn person_role(role: &str, squad: Option<&str>, city: &CityConfig) -> Result<Role, AccessError> {
    let role = Role::parse(role).map_err(|e| AccessError::invalid("role", e))?;
    if role.is_machine() {
        return Err(AccessError::invalid("role", format!("{} is a machine's role: create a key with `gridd key create`", role.id())));
    }
    match (role.needs_squad(), squad) {
        (true, None) => Err(AccessError::invalid("squad", format!("is required for role {}", role.id()))),
        (false, Some(_)) => Err(AccessError::invalid("squad", format!("role {} is not bound to a squad", role.id()))),
        (true, Some(s)) if city.responsibility.squad(&SquadId::new(s)).is_none() => {
            Err(AccessError::invalid("squad", format!("{} is not a configured squad", quote(s))))
        }
        _ => Ok(role),
    }
}

/// Adds an account; refused if the user name is taken.
pub async fn add_user<S: Store>(store: &S, city: &CityConfig, new: NewAccount, actor: &str) -> Result<Account, AccessError> {
    check_username(&new.username)?;
    person_role(&new.role, new.squad.as_deref(), city)?;
    secret::check_password_rules(&new.password)?;
    let display_name = if new.display_name.trim().is_empty() { new.username.clone() } else { new.display_name.trim().to_owned() };
    if display_name.chars().count() > 64 {
        return Err(AccessError::invalid("display_name", "must be at most 64 characters"));
    }
    let password = new.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| AccessError::Unavailable(format!("hashing: {e}")))??;
    let at = now();
    let account = Account {
        username: new.username.clone(),
        display_name,
        role: new.role.clone(),
        squad: new.squad.clone(),
        password_hash,
        disabled: false,
        created_at: at,
        updated_at: at,
    };
    let entry = audit_entry(actor, "user_add", &account.username, None, &format!("ok: role {}", account.role));
    let stored = account.clone();
    store
        .write(move |tx: &mut dyn WriteTx| -> Result<(), AccessError> {
            if tx.account(&stored.username)?.is_some() {
                return Err(AccessError::invalid("username", format!("{} exists already", stored.username)));
            }
            tx.put_account(&stored)?;
            tx.append_audit(&entry)?;
            Ok(())
        })
        .await?;
    Ok(account)
}

/// Every account, by user name.
pub async fn list_users<S: Store>(store: &S) -> Result<Vec<Account>, AccessError> {
    Ok(store.read(|tx: &mut dyn ReadTx| tx.accounts()).await?)
}

/// Disables (or enables again) an account; its sessions and tokens stop working within
/// [`crate::access::STATE_TTL`].
pub async fn set_disabled<S: Store>(store: &S, username: &str, disabled: bool, actor: &str) -> Result<(), AccessError> {
    let action = if disabled { "user_disable" } else { "user_enable" };
    change_account(store, username, action, actor, move |a| a.disabled = disabled).await
}

/// Sets a new password.
pub async fn set_password<S: Store>(store: &S, username: &str, password: &str, actor: &str) -> Result<(), AccessError> {
    secret::check_password_rules(password)?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| AccessError::Unavailable(format!("hashing: {e}")))??;
    change_account(store, username, "user_passwd", actor, move |a| a.password_hash = hash.clone()).await
}

async fn change_account<S: Store>(
    store: &S,
    username: &str,
    action: &'static str,
    actor: &str,
    change: impl Fn(&mut Account) + Send + Sync + 'static,
) -> Result<(), AccessError> {
    let name = username.to_owned();
    let entry = audit_entry(actor, action, username, None, "ok");
    store
        .write(move |tx: &mut dyn WriteTx| -> Result<(), AccessError> {
            let mut account = tx.account(&name)?.ok_or_else(|| AccessError::invalid("username", format!("no account {}", quote(&name))))?;
            change(&mut account);
            account.updated_at = now();
            tx.put_account(&account)?;
            tx.append_audit(&entry)?;
            Ok(())
        })
        .await
}

/// A new machine key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// What it is for, e.g. "新安街道视频网关".
    pub name: String,
    /// Role id: a machine's role, or `administrator` for automation.
    pub role: String,
    /// Cameras of a camera gateway.
    pub cameras: Vec<String>,
}

/// Creates a machine key; returns it with its full text `gk_<id>_<secret>`, which is shown
/// once and never stored.
pub async fn create_key<S: Store>(store: &S, city: &CityConfig, new: NewKey, actor: &str) -> Result<(MachineKey, String), AccessError> {
    let role = Role::parse(&new.role).map_err(|e| AccessError::invalid("role", e))?;
    if !role.is_machine() && role != Role::Administrator {
        return Err(AccessError::invalid("role", format!("{} is a person's role: add an account with `gridd user add`", role.id())));
    }
    check_cameras(role, &new.cameras, city)?;
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AccessError::invalid("name", "is required, at most 100 characters"));
    }
    let id = secret::random_token(8)?;
    let secret_text = secret::random_token(32)?;
    let key = MachineKey {
        id: id.clone(),
        name,
        role: role.id().into(),
        cameras: new.cameras,
        secret_hash: secret::token_hash(&secret_text),
        created_at: now(),
        revoked_at: None,
    };
    let entry = audit_entry(actor, "key_create", &id, None, &format!("ok: role {}", role.id()));
    let stored = key.clone();
    store
        .write(move |tx: &mut dyn WriteTx| {
            tx.put_machine_key(&stored)?;
            tx.append_audit(&entry).map(drop)
        })
        .await?;
    Ok((key, format!("gk_{id}_{secret_text}")))
}

fn check_cameras(role: Role, cameras: &[String], city: &CityConfig) -> Result<(), AccessError> {
    match (role == Role::CameraGateway, cameras.is_empty()) {
        (true, true) => return Err(AccessError::invalid("cameras", "a camera gateway needs at least one camera")),
        (false, false) => return Err(AccessError::invalid("cameras", format!("role {} is not bound to cameras", role.id()))),
        _ => {}
    }
    match cameras.iter().find(|c| !city.cameras.contains_key(&CameraId::new(c.as_str()))) {
        Some(unknown) => Err(AccessError::invalid("cameras", format!("{} is not in the camera registry", quote(unknown)))),
        None => Ok(()),
    }
}

/// Every machine key, oldest first.
pub async fn list_keys<S: Store>(store: &S) -> Result<Vec<MachineKey>, AccessError> {
    Ok(store.read(|tx: &mut dyn ReadTx| tx.machine_keys()).await?)
}

/// Revokes a key; it stops working within [`crate::access::STATE_TTL`].
pub async fn revoke_key<S: Store>(store: &S, id: &str, actor: &str) -> Result<(), AccessError> {
    let key_id = id.to_owned();
    let entry = audit_entry(actor, "key_revoke", id, None, "ok");
    store
        .write(move |tx: &mut dyn WriteTx| -> Result<(), AccessError> {
            let mut key = tx.machine_key(&key_id)?.ok_or_else(|| AccessError::invalid("id", format!("no key {}", quote(&key_id))))?;
            if key.revoked_at.is_none() {
                key.revoked_at = Some(now());
                tx.put_machine_key(&key)?;
            }
            tx.append_audit(&entry)?;
            Ok(())
        })
        .await
}
