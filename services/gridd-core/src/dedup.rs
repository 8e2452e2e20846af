//! Duplicate detection (并案): a report that repeats an open case joins it instead of opening
//! a new one, and its reporter still gets the reply when the case closes.
//!
//! - Camera alerts: the same camera and detection while a case from it is open, or within a
//!   cooldown after its last alert (a scene still being detected after a close).
//! - Other reports: the same category within a radius (50 m) and time window (24 h) of an
//!   open case, across channels; the nearest such case wins.

use geo::Point;
use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::coords::distance_m;
use crate::ids::TicketId;
use crate::time::Timestamp;

/// The longest merge radius, and the longest search for cases near a point, in metres. Each
/// lookup reads the index squares its box touches (`gridd-store`'s `squares`), so their number
/// grows with the square of the radius: about 120 at 1 km, where a city-wide radius would ask
/// for thousands per report.
pub const MAX_RADIUS_M: f64 = 1000.0;

/// Thresholds for merging.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DedupPolicy {
    /// Radius, in metres.
    pub radius_m: f64,
    /// Window after a case was opened, in milliseconds.
    pub window_ms: i64,
    /// Camera cooldown after the last alert, in milliseconds.
    pub camera_cooldown_ms: i64,
}

impl Default for DedupPolicy {
    fn default() -> Self {
        Self { radius_m: 50.0, window_ms: 24 * 3_600_000, camera_cooldown_ms: 30 * 60_000 }
    }
}

/// What the router knows of a case it opened.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownCase {
    /// The case.
    pub ticket_id: TicketId,
    /// Category.
    pub category: CategoryCode,
    /// Location, if any.
    pub location: Option<Point<f64>>,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// Last report attached (or the opening one).
    pub last_seen_at: Timestamp,
    /// False once closed or cancelled.
    pub open: bool,
}

/// The case a report joins, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// The case.
    pub ticket_id: TicketId,
    /// Why, for the history.
    pub reason: String,
}

/// The case a camera alert repeats, among `cases` from the same camera and detection.
pub fn camera_repeat(policy: &DedupPolicy, observed_at: Timestamp, cases: &[KnownCase]) -> Option<Duplicate> {
    if let Some(open) = cases.iter().filter(|c| c.open).max_by_key(|c| c.opened_at) {
        return Some(Duplicate { ticket_id: open.ticket_id.clone(), reason: "same camera and detection while the case is open".into() });
    }
    let cooled = observed_at.add_millis(-policy.camera_cooldown_ms);
    cases.iter().filter(|c| c.last_seen_at >= cooled).max_by_key(|c| c.last_seen_at).map(|c| Duplicate {
        ticket_id: c.ticket_id.clone(),
        reason: format!("same camera and detection within the {} min cooldown", policy.camera_cooldown_ms / 60_000),
    })
}

/// The open case of the same category nearest to `point` within the radius and window.
pub fn nearby(
    policy: &DedupPolicy,
    category: &CategoryCode,
    point: Point<f64>,
    observed_at: Timestamp,
    cases: &[KnownCase],
) -> Option<Duplicate> {
    let since = observed_at.add_millis(-policy.window_ms);
    cases
        .iter()
        .filter(|c| c.open && &c.category == category && c.opened_at >= since)
        .filter_map(|c| Some((c, distance_m(point, c.location?))))
        .filter(|(_, d)| *d <= policy.radius_m)
        .min_by(|(a, da), (b, db)| da.total_cmp(db).then(a.opened_at.cmp(&b.opened_at)))
        .map(|(c, d)| Duplicate {
            ticket_id: c.ticket_id.clone(),
            reason: format!(
                "same category {category} {d:.0} m away, {} min after the case was opened",
                observed_at.millis_since(c.opened_at).max(0) / 60_000
            ),
        })
}

/// A lon/lat box that contains every point within `radius_m` of `point`, for pre-filtering.
///
/// # Units
/// Degrees in and out; the radius in metres.
pub fn search_box(point: Point<f64>, radius_m: f64) -> (Point<f64>, Point<f64>) {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let d_lat = radius_m / METRES_PER_DEGREE * 1.01;
    let d_lon = radius_m / (METRES_PER_DEGREE * point.y().to_radians().cos().max(0.01)) * 1.01;
    (Point::new(point.x() - d_lon, point.y() - d_lat), Point::new(point.x() + d_lon, point.y() + d_lat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, cat: &str, at: Option<(f64, f64)>, opened: i64, open: bool) -> KnownCase {
        KnownCase {
            ticket_id: TicketId::new(id),
            category: CategoryCode::parse(cat).expect("valid"),
            location: at.map(|(x, y)| Point::new(x, y)),
            opened_at: Timestamp::from_millis(opened),
            last_seen_at: Timestamp::from_millis(opened),
            open,
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn nearby_picks_the_nearest_open_case_of_the_category() {
        let p = DedupPolicy::default();
        let here = Point::new(118.35, 34.37);
        // 0.0003° of latitude is about 33 m; 0.0006° about 67 m.
        let cases = vec![
            case("far", "E0102", Some((118.35, 34.3706)), 0, true),
            case("near", "E0102", Some((118.35, 34.3703)), 0, true),
            case("other-category", "E0103", Some((118.35, 34.37)), 0, true),
            case("closed", "E0102", Some((118.35, 34.37)), 0, false),
        ];
        let cat = CategoryCode::parse("E0102").expect("valid");
        let hit = nearby(&p, &cat, here, Timestamp::from_millis(HOUR), &cases).expect("duplicate");
        assert_eq!(hit.ticket_id.as_str(), "near");
        assert!(hit.reason.contains("33 m"), "{}", hit.reason);
        // Outside the window nothing matches.
        assert_eq!(nearby(&p, &cat, here, Timestamp::from_millis(25 * HOUR), &cases), None);
    }

    #[test]
    fn camera_repeats_join_open_cases_or_recent_ones() {
        let p = DedupPolicy::default();
        let open = vec![case("a", "E0504", None, 0, true)];
        assert_eq!(camera_repeat(&p, Timestamp::from_millis(10 * HOUR), &open).map(|d| d.ticket_id.to_string()), Some("a".into()));
        let closed = vec![case("b", "E0504", None, 0, false)];
        assert!(camera_repeat(&p, Timestamp::from_millis(20 * 60_000), &closed).is_some());
        assert_eq!(camera_repeat(&p, Timestamp::from_millis(HOUR), &closed), None);
    }

    #[test]
    fn search_box_contains_the_radius() {
        let p = Point::new(118.35, 34.37);
        let (lo, hi) = search_box(p, 50.0);
        assert!(distance_m(p, Point::new(lo.x(), p.y())) >= 50.0);
        assert!(distance_m(p, Point::new(p.x(), hi.y())) >= 50.0);
    }
}
