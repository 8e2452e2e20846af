//! Responsibility: which squad (中队) or department handles a case, from where it is
//! (street kind, street, community), what it is (category) and when (time of day).
//!
//! Rules are tried in order and the first match wins; when none matches, the territorial
//! default (属地兜底) applies: the squad stationed in the cell's street. A case for which
//! neither names a squad goes to the dispatch centre's manual queue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::grid::{Street, StreetKind};
use crate::ids::{CommunityCode, SquadId, StreetCode};

/// What kind of body a squad is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SquadKind {
    /// A numbered enforcement squad stationed in an urban street.
    Street,
    /// A specialised squad with a city-wide remit (vehicles, mobile, illegal construction).
    Specialised,
    /// A town's (镇) or zone's enforcement squad.
    Town,
    /// A professional department for components (municipal, greening, sanitation, lighting).
    Department,
}

/// A squad or department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Squad {
    /// Id, e.g. `sq-1`.
    pub id: SquadId,
    /// Name, e.g. 一中队.
    pub name: String,
    /// Kind.
    pub kind: SquadKind,
    /// Streets this squad is the territorial default for.
    pub territory: Vec<StreetCode>,
}

/// Which categories a rule covers: `*`, a kind (`E`, `C`), a big class (`E05`) or a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryPattern(String);

impl CategoryPattern {
    /// Parses a pattern.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s == "*"
            || matches!(s, "E" | "C")
            || (s.len() == 3 && CategoryCode::parse(&format!("{s}00")).is_ok())
            || CategoryCode::parse(s).is_ok();
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a category pattern (*, E, C, a big class like E05, or a code like E0505)"))
        }
    }

    /// True if `code` is covered.
    pub fn matches(&self, code: &CategoryCode) -> bool {
        self.0 == "*" || code.as_str().starts_with(&self.0)
    }
}

impl TryFrom<String> for CategoryPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<CategoryPattern> for String {
    fn from(p: CategoryPattern) -> String {
        p.0
    }
}

/// A daily time window in local minutes; wraps past midnight when `start > end`
/// (e.g. 20:00–06:00 for night shifts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOfDay {
    /// First minute.
    pub start_min: u16,
    /// Minute it ends (exclusive).
    pub end_min: u16,
}

impl TimeOfDay {
    /// True if `minute` (0..1440) lies in the window.
    pub fn contains(self, minute: u16) -> bool {
        if self.start_min <= self.end_min {
            (self.start_min..self.end_min).contains(&minute)
        } else {
            minute >= self.start_min || minute < self.end_min
        }
    }
}

/// One responsibility rule. Empty lists match anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Id, shown in routing explanations.
    pub id: String,
    /// The squad it names.
    pub squad: SquadId,
    /// What the rule is for, e.g. "vehicle events in urban streets".
    pub description: String,
    /// Street kinds it covers.
    pub street_kinds: Vec<StreetKind>,
    /// Streets it covers.
    pub streets: Vec<StreetCode>,
    /// Communities it covers.
    pub communities: Vec<CommunityCode>,
    /// Categories it covers.
    pub categories: Vec<CategoryPattern>,
    /// Time of day it applies.
    pub hours: Option<TimeOfDay>,
}

impl Rule {
    fn covers_place(&self, street: &Street, community: &CommunityCode) -> bool {
        (self.street_kinds.is_empty() || self.street_kinds.contains(&street.kind))
            && (self.streets.is_empty() || self.streets.contains(&street.code))
            && (self.communities.is_empty() || self.communities.contains(community))
    }

    fn covers(&self, street: &Street, community: &CommunityCode, category: &CategoryCode, minute: u16) -> bool {
        self.covers_place(street, community)
            && (self.categories.is_empty() || self.categories.iter().any(|p| p.matches(category)))
            && self.hours.is_none_or(|h| h.contains(minute))
    }
}

/// The squad chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The squad.
    pub squad: SquadId,
    /// The rule id, or `territorial-default`.
    pub rule_id: String,
    /// Why, for people.
    pub reason: String,
}

/// Rule id reported for the territorial default.
pub const TERRITORIAL_DEFAULT: &str = "territorial-default";

/// The city's squads and rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Responsibility {
    squads: BTreeMap<SquadId, Squad>,
    rules: Vec<Rule>,
    territorial: BTreeMap<StreetCode, SquadId>,
}

impl Responsibility {
    /// Checks that every rule names a known squad, rule ids are unique, and no street has
    /// two territorial squads.
    pub fn new(squads: Vec<Squad>, rules: Vec<Rule>) -> Result<Self, String> {
        let mut by_id = BTreeMap::new();
        let mut territorial = BTreeMap::new();
        for squad in squads {
            for street in &squad.territory {
                if let Some(other) = territorial.insert(street.clone(), squad.id.clone()) {
                    return Err(format!("street {street} has two territorial squads: {other} and {}", squad.id));
                }
            }
            if by_id.insert(squad.id.clone(), squad.clone()).is_some() {
                return Err(format!("squad {} is listed twice", squad.id));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for rule in &rules {
            if !ids.insert(rule.id.as_str()) {
                return Err(format!("rule {} is listed twice", rule.id));
            }
            if !by_id.contains_key(&rule.squad) {
                return Err(format!("rule {} names squad {} which is not listed", rule.id, rule.squad));
            }
        }
        Ok(Self { squads: by_id, rules, territorial })
    }

    /// A squad by id.
    pub fn squad(&self, id: &SquadId) -> Option<&Squad> {
        self.squads.get(id)
    }

    /// Every squad in id order.
    pub fn squads(&self) -> impl Iterator<Item = &Squad> {
        self.squads.values()
    }

    /// The rules in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The squad for `category` at this place at local `minute` of the day: the first rule
    /// that matches, else the street's territorial squad, else `None`.
    pub fn assign(&self, street: &Street, community: &CommunityCode, category: &CategoryCode, minute: u16) -> Option<Assignment> {
        if let Some(rule) = self.rules.iter().find(|r| r.covers(street, community, category, minute)) {
            return Some(Assignment {
                squad: rule.squad.clone(),
                rule_id: rule.id.clone(),
                reason: format!("rule {}: {}", rule.id, rule.description),
            });
        }
        self.territorial_default(street)
    }

    /// Every rule that covers this place (for any category or time), then the territorial
    /// default: what `Locate` lists when no category is given.
    pub fn applicable(&self, street: &Street, community: &CommunityCode) -> Vec<Assignment> {
        let mut out: Vec<Assignment> = self
            .rules
            .iter()
            .filter(|r| r.covers_place(street, community))
            .map(|r| Assignment { squad: r.squad.clone(), rule_id: r.id.clone(), reason: format!("rule {}: {}", r.id, r.description) })
            .collect();
        out.extend(self.territorial_default(street));
        out
    }

    fn territorial_default(&self, street: &Street) -> Option<Assignment> {
        self.territorial.get(&street.code).map(|squad| Assignment {
            squad: squad.clone(),
            rule_id: TERRITORIAL_DEFAULT.into(),
            reason: format!("territorial default (属地兜底) for {}", street.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn street(code: &str, name: &str) -> Street {
        let code = StreetCode::parse(code).expect("valid");
        Street { kind: StreetKind::of(&code), code, name: name.into() }
    }

    fn squad(id: &str, kind: SquadKind, territory: &[&str]) -> Squad {
        Squad {
            id: SquadId::new(id),
            name: id.into(),
            kind,
            territory: territory.iter().map(|s| StreetCode::parse(s).expect("valid")).collect(),
        }
    }

    fn rule(id: &str, squad: &str, kinds: Vec<StreetKind>, cats: &[&str], hours: Option<TimeOfDay>) -> Rule {
        Rule {
            id: id.into(),
            squad: SquadId::new(squad),
            description: id.into(),
            street_kinds: kinds,
            streets: vec![],
            communities: vec![],
            categories: cats.iter().map(|c| CategoryPattern::parse(c).expect("valid")).collect(),
            hours,
        }
    }

    fn city() -> Responsibility {
        Responsibility::new(
            vec![
                squad("sq-1", SquadKind::Street, &["320381001"]),
                squad("sq-vehicles", SquadKind::Specialised, &[]),
                squad("sq-mobile", SquadKind::Specialised, &[]),
                squad("sq-wayao", SquadKind::Town, &["320381102"]),
            ],
            vec![
                rule(
                    "night-street-order",
                    "sq-mobile",
                    vec![StreetKind::Urban],
                    &["E05"],
                    Some(TimeOfDay { start_min: 20 * 60, end_min: 6 * 60 }),
                ),
                rule("vehicles-urban", "sq-vehicles", vec![StreetKind::Urban], &["E0505", "E0506"], None),
            ],
        )
        .expect("valid")
    }

    #[test]
    fn first_matching_rule_then_territorial_default() {
        let r = city();
        let xinan = street("320381001", "新安街道");
        let c = CommunityCode::parse("320381001001").expect("valid");
        let code = |s: &str| CategoryCode::parse(s).expect("valid");
        let noon = 12 * 60;
        assert_eq!(r.assign(&xinan, &c, &code("E0505"), noon).map(|a| a.rule_id), Some("vehicles-urban".into()));
        assert_eq!(r.assign(&xinan, &c, &code("E0102"), noon).map(|a| a.rule_id), Some(TERRITORIAL_DEFAULT.into()));
        // At night the mobile squad takes street order, vehicles included (rule order).
        assert_eq!(r.assign(&xinan, &c, &code("E0505"), 23 * 60).map(|a| a.squad.to_string()), Some("sq-mobile".into()));
        assert_eq!(r.assign(&xinan, &c, &code("E0505"), 5 * 60 + 59).map(|a| a.squad.to_string()), Some("sq-mobile".into()));
        // Rules for urban streets do not apply in towns.
        let wayao = street("320381102", "瓦窑镇");
        let wc = CommunityCode::parse("320381102001").expect("valid");
        assert_eq!(r.assign(&wayao, &wc, &code("E0505"), noon).map(|a| a.squad.to_string()), Some("sq-wayao".into()));
        // No territorial squad: nobody.
        let other = street("320381103", "港头镇");
        assert_eq!(r.assign(&other, &CommunityCode::parse("320381103001").expect("valid"), &code("E0102"), noon), None);
    }

    #[test]
    fn applicable_lists_rules_then_default() {
        let r = city();
        let xinan = street("320381001", "新安街道");
        let c = CommunityCode::parse("320381001001").expect("valid");
        let ids: Vec<String> = r.applicable(&xinan, &c).into_iter().map(|a| a.rule_id).collect();
        assert_eq!(ids, vec!["night-street-order", "vehicles-urban", TERRITORIAL_DEFAULT]);
    }

    #[test]
    fn refuses_unknown_squads_and_double_territory() {
        let bad_rule = Responsibility::new(vec![], vec![rule("r", "ghost", vec![], &[], None)]);
        assert!(bad_rule.is_err_and(|e| e.contains("ghost")));
        let double =
            Responsibility::new(vec![squad("a", SquadKind::Street, &["320381001"]), squad("b", SquadKind::Street, &["320381001"])], vec![]);
        assert!(double.is_err_and(|e| e.contains("two territorial squads")));
    }

    #[test]
    fn category_patterns() {
        let code = CategoryCode::parse("E0505").expect("valid");
        for (p, hit) in [("*", true), ("E", true), ("C", false), ("E05", true), ("E01", false), ("E0505", true)] {
            assert_eq!(CategoryPattern::parse(p).expect(p).matches(&code), hit, "{p}");
        }
        assert!(CategoryPattern::parse("X1").is_err());
    }
}
