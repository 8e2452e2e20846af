//! `squads.toml`: squads, departments and the responsibility rules, tried in order.
//!
//! ```toml
//! [[squad]]
//! id = "sq-1"
//! name = "一中队"
//! kind = "street"            # street | specialised | town | department
//! territory = ["320381001"]  # streets it is the territorial default (属地兜底) for
//!
//! [[rule]]
//! id = "vehicles-urban"
//! squad = "sq-vehicles"
//! description = "vehicle-related events in the urban streets"
//! street_kinds = ["urban"]   # urban | town | zone; empty = all
//! streets = []               # 9-digit codes; empty = all
//! communities = []           # 12-digit codes; empty = all
//! categories = ["E0505"]     # *, E, C, big class (E05) or code; empty = all
//! hours = "20:00-06:00"      # optional, may wrap midnight
//! ```

use std::path::Path;

use gridd_core::calendar::minute_of_day;
use gridd_core::grid::{Divisions, StreetKind};
use gridd_core::ids::{CommunityCode, SquadId, StreetCode};
use gridd_core::routing::{CategoryPattern, Responsibility, Rule, Squad, SquadKind, TimeOfDay};
use serde::Deserialize;

use crate::{ConfigError, read_toml};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    squad: Vec<SquadEntry>,
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SquadEntry {
    id: String,
    name: String,
    kind: SquadKind,
    #[serde(default)]
    territory: Vec<StreetCode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: String,
    squad: String,
    description: String,
    #[serde(default)]
    street_kinds: Vec<StreetKind>,
    #[serde(default)]
    streets: Vec<StreetCode>,
    #[serde(default)]
    communities: Vec<CommunityCode>,
    #[serde(default)]
    categories: Vec<CategoryPattern>,
    #[serde(default)]
    hours: Option<String>,
}

/// Loads squads and rules and checks every street and community they name exists.
pub(crate) fn load(path: &Path, divisions: &Divisions) -> Result<Responsibility, ConfigError> {
    let file: File = read_toml(path)?;
    let mut squads = Vec::with_capacity(file.squad.len());
    for s in file.squad {
        for street in &s.territory {
            if divisions.street(street).is_none() {
                return Err(ConfigError::new(
                    path,
                    format!("squad {}", s.id),
                    format!("territory street {street} is not in the division list"),
                ));
            }
        }
        squads.push(Squad { id: SquadId::new(s.id), name: s.name, kind: s.kind, territory: s.territory });
    }
    let mut rules = Vec::with_capacity(file.rule.len());
    for r in file.rule {
        let item = format!("rule {}", r.id);
        if let Some(s) = r.streets.iter().find(|s| divisions.street(s).is_none()) {
            return Err(ConfigError::new(path, item, format!("street {s} is not in the division list")));
        }
        if let Some(c) = r.communities.iter().find(|c| divisions.community(c).is_none()) {
            return Err(ConfigError::new(path, item, format!("community {c} is not in the division list")));
        }
        let hours =
            r.hours.as_deref().map(parse_hours).transpose().map_err(|reason| ConfigError::new(path, format!("{item}.hours"), reason))?;
        rules.push(Rule {
            id: r.id,
            squad: SquadId::new(r.squad),
            description: r.description,
            street_kinds: r.street_kinds,
            streets: r.streets,
            communities: r.communities,
            categories: r.categories,
            hours,
        });
    }
    Responsibility::new(squads, rules).map_err(|reason| ConfigError::new(path, "", reason))
}

/// `HH:MM-HH:MM`, allowed to wrap past midnight.
fn parse_hours(s: &str) -> Result<TimeOfDay, String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?} is not HH:MM-HH:MM"))?;
    let (start_min, end_min) = (minute_of_day(a)?, minute_of_day(b)?);
    if start_min == end_min {
        return Err(format!("{s:?} is empty"));
    }
    Ok(TimeOfDay { start_min, end_min })
}
