//! `divisions.csv`: the county, its streets and communities (NBS statistical division codes).
//!
//! Header `level,code,name,parent_code`; one `county` row, then `street` (9-digit) and
//! `community` (12-digit) rows. Names contain no commas, so no quoting is needed or accepted.

use std::path::Path;

use gridd_core::grid::{Community, Divisions, Street, StreetKind};
use gridd_core::ids::{AdminCode, CommunityCode, StreetCode};

use crate::ConfigError;

/// Loads and checks a divisions file.
pub fn load(path: &Path) -> Result<Divisions, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<Divisions, ConfigError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "level,code,name,parent_code" => {}
        _ => return Err(ConfigError::new(path, "line 1", "header must be level,code,name,parent_code")),
    }
    let mut county: Option<(AdminCode, String)> = None;
    let (mut streets, mut communities) = (Vec::new(), Vec::new());
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let item = format!("line {}", i + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [level, code, name, parent] = fields[..] else {
            return Err(ConfigError::new(path, item, format!("expected 4 fields, got {}", fields.len())));
        };
        let bad = |reason: String| ConfigError::new(path, format!("{item} ({code})"), reason);
        if name.is_empty() {
            return Err(bad("name is empty".into()));
        }
        match level {
            "county" => {
                if county.is_some() {
                    return Err(bad("a second county row".into()));
                }
                county = Some((AdminCode::parse(code).map_err(bad)?, name.to_owned()));
            }
            "street" => {
                let code = StreetCode::parse(code).map_err(bad)?;
                if code.admin().as_str() != parent {
                    return Err(bad(format!("parent_code {parent} does not match the code's prefix")));
                }
                streets.push(Street { kind: StreetKind::of(&code), code, name: name.to_owned() });
            }
            "community" => {
                let code = CommunityCode::parse(code).map_err(bad)?;
                if code.street().as_str() != parent {
                    return Err(bad(format!("parent_code {parent} does not match the code's prefix")));
                }
                communities.push(Community { code, name: name.to_owned() });
            }
            other => return Err(bad(format!("level {other:?} is not county, street or community"))),
        }
    }
    let (admin, city_name) = county.ok_or_else(|| ConfigError::new(path, "", "no county row"))?;
    Divisions::new(admin, city_name, streets, communities).map_err(|reason| ConfigError::new(path, "", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_orphans() {
        let p = Path::new("divisions.csv");
        let ok = "level,code,name,parent_code\ncounty,320381,新沂市,320300\nstreet,320381001,新安街道,320381\ncommunity,320381001001,职工居委会,320381001\n";
        let d = parse(p, ok).expect("valid");
        assert_eq!(d.streets().count(), 1);
        let orphan = ok.replace("community,320381001001,职工居委会,320381001", "community,320381002001,x,320381002");
        let err = parse(p, &orphan).expect_err("orphan community");
        assert!(err.reason.contains("not listed"), "{err}");
        let wrong_parent = ok.replace("street,320381001,新安街道,320381", "street,320381001,新安街道,320382");
        assert!(parse(p, &wrong_parent).expect_err("bad parent").item.contains("320381001"));
    }
}
