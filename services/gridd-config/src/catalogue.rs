//! `catalogue.toml`: the small classes with urgency and limits.
//!
//! ```toml
//! version = "xinyi-2026.1"
//! [[class]]
//! code = "C0102"
//! name = "污水井盖"
//! name_en = "Sewage manhole cover"
//! pinyin = "wu shui jing gai"   # optional: the operators' search by initials (wsjg)
//! urgency = "normal"
//! handling = "1WD"
//! [[class.condition]]
//! name = "missing"
//! label = "缺失"
//! urgency = "urgent"
//! handling = "2h"
//! ```

use std::path::Path;

use gridd_core::category::{Catalogue, CategoryClass, CategoryCode, Condition, LimitSpec, Urgency};
use serde::Deserialize;

use crate::{ConfigError, read_toml};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: String,
    class: Vec<ClassEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassEntry {
    code: CategoryCode,
    name: String,
    name_en: String,
    #[serde(default)]
    pinyin: String,
    urgency: Urgency,
    handling: LimitSpec,
    #[serde(default)]
    condition: Vec<ConditionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionEntry {
    name: String,
    label: String,
    urgency: Urgency,
    handling: LimitSpec,
}

/// Loads the catalogue.
pub(crate) fn load(path: &Path) -> Result<Catalogue, ConfigError> {
    let file: File = read_toml(path)?;
    let classes = file
        .class
        .into_iter()
        .map(|c| CategoryClass {
            code: c.code,
            name: c.name,
            name_en: c.name_en,
            pinyin: c.pinyin,
            urgency: c.urgency,
            handling: c.handling,
            conditions: c
                .condition
                .into_iter()
                .map(|k| Condition { name: k.name, label: k.label, urgency: k.urgency, handling: k.handling })
                .collect(),
        })
        .collect();
    Catalogue::new(file.version, classes).map_err(|reason| ConfigError::new(path, "class", reason))
}
