//! Owner units (权属单位) of numbered components (部件): a registry of id prefixes.
//!
//! A component carries a 16-digit id (部件标识码: county 6 + big class 2 + small class 2 +
//! sequence 6). Who maintains it — the power company, a telecom operator, the gas or water
//! company — follows from the id, not from where it stands, so a patrol report naming a
//! component goes to its owner ahead of the category rules, and reports of one component are
//! one case.

use crate::ids::SquadId;

/// The registry: id prefixes and the unit that owns the components they cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerRegistry {
    /// (prefix, unit), longest prefix first.
    owners: Vec<(String, SquadId)>,
}

/// A component's owner, and the registry entry that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The owning unit.
    pub unit: &'a SquadId,
    /// The prefix that matched.
    pub prefix: &'a str,
}

impl OwnerRegistry {
    /// A registry of `(prefix, unit)` entries; refuses a prefix that is not 1 to 16 digits or
    /// is listed twice.
    pub fn new(entries: Vec<(String, SquadId)>) -> Result<Self, String> {
        let mut owners = entries;
        if let Some((p, _)) = owners.iter().find(|(p, _)| p.is_empty() || p.len() > 16 || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("prefix {p:?} is not 1 to 16 digits"));
        }
        owners.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        if let Some(w) = owners.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("prefix {:?} is listed twice", w[0].0));
        }
        Ok(Self { owners })
    }

    /// The owner of component `id`: the entry with the longest prefix of it.
    pub fn owner(&self, id: &str) -> Option<Owner<'_>> {
        self.owners.iter().find(|(prefix, _)| id.starts_with(prefix.as_str())).map(|(prefix, unit)| Owner { unit, prefix })
    }

    /// Every unit named, for checking them against the configured squads.
    pub fn units(&self) -> impl Iterator<Item = &SquadId> {
        self.owners.iter().map(|(_, unit)| unit)
    }
}

/// The key reports of one component are merged on.
pub fn repeat_key(component_id: &str) -> String {
    format!("component:{component_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_names_the_owner() {
        let registry = OwnerRegistry::new(vec![
            ("3203810112".into(), SquadId::new("unit-power")),
            ("3203810112900".into(), SquadId::new("unit-telecom")),
            ("3203810108".into(), SquadId::new("unit-gas")),
        ])
        .expect("valid");
        let owner = |id: &str| registry.owner(id).map(|o| o.unit.as_str().to_owned());
        assert_eq!(owner("3203810112000042").as_deref(), Some("unit-power"));
        assert_eq!(owner("3203810112900042").as_deref(), Some("unit-telecom"), "the telecom operator's own poles");
        assert_eq!(owner("3203810108000001").as_deref(), Some("unit-gas"));
        assert_eq!(owner("3203810102000001"), None, "not in the registry: routed by category");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        let one = |p: &str| OwnerRegistry::new(vec![(p.into(), SquadId::new("u"))]);
        assert!(one("32038101x").expect_err("letters").contains("not 1 to 16 digits"));
        assert!(one("").is_err() && one(&"1".repeat(17)).is_err());
        let twice = OwnerRegistry::new(vec![("3203".into(), SquadId::new("a")), ("3203".into(), SquadId::new("b"))]);
        assert!(twice.expect_err("twice").contains("listed twice"));
    }
}
