//! The catalogue of management components (部件) and events (事件), with urgency and limits.
//!
//! A category is keyed by (catalogue version, kind, big class, small class): a small-class code
//! is not unique without its kind, so codes carry the kind as a letter, e.g. `E0102` (event,
//! 市容环境, 暴露垃圾) or `C0101` (component, 公用设施, 上水井盖). Local extension classes use
//! letters in the small class (`E01L1`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::error::quote;

/// Component (部件: a physical asset) or event (事件: a condition or behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// 部件.
    Component,
    /// 事件.
    Event,
}

/// A category code: kind letter, 2-digit big class, 2-character small class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    /// Parses `E0102`-style codes: `E` or `C`, two digits, two upper-case letters or digits.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let well_formed = b.len() == 5
            && matches!(b[0], b'E' | b'C')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "a category code is E (event) or C (component), a 2-digit big class and a 2-character small class, e.g. E0102; got {}",
                quote(s)
            ))
        }
    }

    /// Component or event.
    pub fn kind(&self) -> Kind {
        if self.0.starts_with('C') { Kind::Component } else { Kind::Event }
    }

    /// The 2-digit big class (大类).
    pub fn big_class(&self) -> &str {
        &self.0[1..3]
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CategoryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<CategoryCode> for String {
    fn from(c: CategoryCode) -> String {
        c.0
    }
}

impl fmt::Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 一般 or 紧急. Urgent cases run on the 24×7 clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// 一般.
    #[default]
    Normal,
    /// 紧急.
    Urgent,
}

/// The unit a limit is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitUnit {
    /// 工作时: hours inside the working windows of working days.
    WorkingHours,
    /// 工作日: working days (one day = the length of the day's working windows).
    WorkingDays,
    /// Clock hours, 24×7.
    Hours,
    /// Clock minutes, 24×7.
    Minutes,
    /// Clock seconds, 24×7 (test configurations).
    Seconds,
}

impl LimitUnit {
    fn suffix(self) -> &'static str {
        match self {
            LimitUnit::WorkingHours => "WH",
            LimitUnit::WorkingDays => "WD",
            LimitUnit::Hours => "h",
            LimitUnit::Minutes => "min",
            LimitUnit::Seconds => "s",
        }
    }
}

/// A time limit as written in config or a request: an amount and a unit, e.g. `4WH`, `2WD`,
/// `30min`, `1.5h`. The calendar turns it into a [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LimitSpec {
    /// Amount in thousandths of the unit (so `1.5h` is 1500).
    pub milli_amount: u64,
    /// The unit.
    pub unit: LimitUnit,
}

impl LimitSpec {
    /// Parses a limit written exactly as `<number><unit>`, e.g. `4WH`, `2WD`, `1.5h`, `30min`,
    /// `10s`:
    ///
    /// - the number is decimal digits with at most three decimals after a `.` (`1.5`, `0.25`,
    ///   not `.5`, `1.` or `1,5`) and must be greater than zero;
    /// - the unit follows the number directly and is spelled exactly `WH` (working hours),
    ///   `WD` (working days), `h` (clock hours), `min` (clock minutes) or `s` (clock seconds);
    /// - nothing else: no spaces anywhere (`4 WH` and ` 4WH` are refused), no other case
    ///   (`4wh`, `2H` are refused) and no other unit names (`2d`, `4 hours`).
    ///
    /// The same form is used in the city's configuration files and in requests
    /// (`ExtendDeadlineRequest.extension`), and [`LimitSpec`]'s `Display` writes it back.
    pub fn parse(s: &str) -> Result<Self, String> {
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let unit = match unit {
            "WH" => LimitUnit::WorkingHours,
            "WD" => LimitUnit::WorkingDays,
            "h" => LimitUnit::Hours,
            "min" => LimitUnit::Minutes,
            "s" => LimitUnit::Seconds,
            _ if s.chars().any(char::is_whitespace) => {
                return Err(format!("{} must not contain spaces; write a limit like 4WH, 2WD, 1.5h, 30min or 10s", quote(s)));
            }
            other => {
                return Err(format!(
                    "unknown unit {} in {}; use exactly WH (working hours), WD (working days), h, min or s, e.g. 4WH",
                    quote(other),
                    quote(s)
                ));
            }
        };
        let milli_amount = parse_thousandths(number)
            .ok_or_else(|| format!("{} must start with a number with at most three decimals, e.g. 4WH or 1.5h", quote(s)))?;
        if milli_amount == 0 {
            return Err(format!("{} must be greater than zero", quote(s)));
        }
        Ok(Self { milli_amount, unit })
    }
}

fn parse_thousandths(number: &str) -> Option<u64> {
    let (whole, frac) = match number.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (number, ""),
    };
    if whole.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse().ok()? };
    whole.checked_mul(1000)?.checked_add(frac)
}

impl TryFrom<String> for LimitSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<LimitSpec> for String {
    fn from(l: LimitSpec) -> String {
        l.to_string()
    }
}

impl fmt::Display for LimitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.milli_amount / 1000;
        let frac = self.milli_amount % 1000;
        if frac == 0 {
            write!(f, "{whole}{}", self.unit.suffix())
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{whole}.{}{}", frac.trim_end_matches('0'), self.unit.suffix())
        }
    }
}

/// Which clock a limit runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockKind {
    /// Counts only time inside working windows of working days.
    Working,
    /// Counts every millisecond (24×7).
    Calendar,
}

/// A limit resolved against a calendar: a span of milliseconds on one kind of clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Working time or calendar time.
    pub clock: ClockKind,
    /// Length of the span, in milliseconds of that clock.
    pub millis: i64,
}

impl Limit {
    /// `share` of this limit (e.g. 0.75), on the same clock, rounded to the millisecond.
    pub fn share(self, share: f64) -> Limit {
        Limit { clock: self.clock, millis: (self.millis as f64 * share).round() as i64 }
    }
}

/// A filing condition (立案条件) that changes the urgency or the limit of a class,
/// e.g. a manhole cover that is `missing` (urgent, 2 h) rather than `damaged` (1 WD).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Machine name used in requests, e.g. `missing`.
    pub name: String,
    /// Label for people, e.g. 缺失.
    pub label: String,
    /// Urgency under this condition.
    pub urgency: Urgency,
    /// Handling limit under this condition.
    pub handling: LimitSpec,
}

/// One small class of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryClass {
    /// The code, e.g. `E0102`.
    pub code: CategoryCode,
    /// Chinese name, e.g. 暴露垃圾.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Pinyin of the Chinese name, syllables apart, e.g. `bao lu la ji`; empty if not given.
    #[serde(default)]
    pub pinyin: String,
    /// Default urgency.
    pub urgency: Urgency,
    /// Default handling limit.
    pub handling: LimitSpec,
    /// Filing conditions that override urgency and limit.
    pub conditions: Vec<Condition>,
}

impl CategoryClass {
    /// The first letters of the name's pinyin syllables, e.g. `bllj` for 暴露垃圾 (what a
    /// hotline operator types to find a class quickly).
    pub fn pinyin_initials(&self) -> String {
        self.pinyin.split_whitespace().filter_map(|syllable| syllable.chars().next()).collect()
    }
}

/// What a (category, condition) pair fixes for a new case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTerms<'a> {
    /// The class.
    pub class: &'a CategoryClass,
    /// The condition name, if one was given.
    pub condition: Option<&'a str>,
    /// Urgency of the case.
    pub urgency: Urgency,
    /// Handling limit of the case.
    pub handling: LimitSpec,
}

/// A versioned catalogue of small classes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    /// Catalogue version, e.g. `xinyi-2026.1`.
    pub version: String,
    classes: BTreeMap<CategoryCode, CategoryClass>,
}

impl Catalogue {
    /// Builds a catalogue; fails on a duplicate code or a duplicate condition within a class.
    pub fn new(version: impl Into<String>, classes: Vec<CategoryClass>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for class in classes {
            let mut names: Vec<&str> = class.conditions.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("category {}: condition {:?} is listed twice", class.code, w[0]));
            }
            let code = class.code.clone();
            if map.insert(code.clone(), class).is_some() {
                return Err(format!("category {code} is listed twice"));
            }
        }
        Ok(Self { version: version.into(), classes: map })
    }

    /// The class with this code.
    pub fn get(&self, code: &CategoryCode) -> Option<&CategoryClass> {
        self.classes.get(code)
    }

    /// Every class, in code order.
    pub fn classes(&self) -> impl Iterator<Item = &CategoryClass> {
        self.classes.values()
    }

    /// Validates a request's category and condition and returns the terms they fix.
    /// Errors name `category` or `condition`.
    pub fn terms<'a>(&'a self, category: &str, condition: &'a str) -> Result<CaseTerms<'a>, FieldError> {
        let code = CategoryCode::parse(category).map_err(|e| FieldError::new("category", e))?;
        let class =
            self.classes.get(&code).ok_or_else(|| FieldError::new("category", format!("{code} is not in catalogue {}", self.version)))?;
        if condition.is_empty() {
            return Ok(CaseTerms { class, condition: None, urgency: class.urgency, handling: class.handling });
        }
        let found = class.conditions.iter().find(|c| c.name == condition).ok_or_else(|| {
            let known: Vec<&str> = class.conditions.iter().map(|c| c.name.as_str()).collect();
            FieldError::new("condition", format!("{} is not a condition of {code}; known: {known:?}", quote(condition)))
        })?;
        Ok(CaseTerms { class, condition: Some(found.name.as_str()), urgency: found.urgency, handling: found.handling })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_specs_parse_and_print() {
        for s in ["4WH", "2WD", "30min", "1.5h", "3s", "0.25h"] {
            assert_eq!(LimitSpec::parse(s).expect(s).to_string(), s);
        }
        assert_eq!(LimitSpec::parse("1.5h").map(|l| l.milli_amount), Ok(1500));
        assert!(LimitSpec::parse("0h").is_err());
        assert!(LimitSpec::parse("4 days").is_err());
        assert!(LimitSpec::parse("h").is_err());
        assert!(LimitSpec::parse("1.2345h").is_err());
    }

    #[test]
    fn limit_specs_are_spelled_exactly() {
        for s in [
            "4 WH", "4wh", "4Wh", "2wd", " 4WH", "4WH ", "4WH\n", "2H", "2 h", "30mins", "30 min", "1.h", ".5h", "1,5h", "4WHx", "+4WH",
            "-1h",
        ] {
            assert!(LimitSpec::parse(s).is_err(), "{s:?} must be refused");
        }
        let spaced = LimitSpec::parse("4 WH").expect_err("space");
        assert!(spaced.contains("must not contain spaces"), "{spaced}");
        let lower = LimitSpec::parse("4wh").expect_err("case");
        assert!(lower.contains("unknown unit \"wh\"") && lower.contains("exactly WH"), "{lower}");
        let huge = format!("4{}", "W".repeat(1 << 20));
        assert!(LimitSpec::parse(&huge).expect_err("long").len() < 300, "the message quotes only a prefix");
    }

    #[test]
    fn category_codes() {
        let c = CategoryCode::parse("C0101").expect("valid");
        assert_eq!(c.kind(), Kind::Component);
        assert_eq!(c.big_class(), "01");
        assert!(CategoryCode::parse("E01L1").is_ok());
        assert!(CategoryCode::parse("X0101").is_err());
        assert!(CategoryCode::parse("E010").is_err());
    }

    fn cover() -> CategoryClass {
        CategoryClass {
            code: CategoryCode::parse("C0102").expect("valid"),
            name: "污水井盖".into(),
            name_en: "Sewage manhole cover".into(),
            pinyin: String::new(),
            urgency: Urgency::Normal,
            handling: LimitSpec::parse("1WD").expect("valid"),
            conditions: vec![Condition {
                name: "missing".into(),
                label: "缺失".into(),
                urgency: Urgency::Urgent,
                handling: LimitSpec::parse("2h").expect("valid"),
            }],
        }
    }

    #[test]
    fn terms_apply_conditions_and_name_fields() {
        let cat = Catalogue::new("test", vec![cover()]).expect("valid");
        let t = cat.terms("C0102", "missing").expect("known");
        assert_eq!(t.urgency, Urgency::Urgent);
        assert_eq!(t.handling.to_string(), "2h");
        assert_eq!(cat.terms("C0102", "").map(|t| t.urgency), Ok(Urgency::Normal));
        assert_eq!(cat.terms("C0199", "").map_err(|e| e.field), Err("category".into()));
        assert_eq!(cat.terms("C0102", "stolen").map_err(|e| e.field), Err("condition".into()));
        let huge = "E".repeat(1 << 20);
        let e = cat.terms(&huge, "").expect_err("bad code");
        assert!(e.field == "category" && e.reason.len() < 300, "{e}");
        let e = cat.terms("C0102", &huge).expect_err("bad condition");
        assert!(e.field == "condition" && e.reason.starts_with(&format!("\"{}\"…", "E".repeat(40))), "{e}");
        assert!(Catalogue::new("dup", vec![cover(), cover()]).is_err());
    }
}
