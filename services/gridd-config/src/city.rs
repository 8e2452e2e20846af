//! `city.toml` and the files it names: everything the engine knows about one city.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use geo::Point;
use gridd_core::assessment::{RateKind, Weights};
use gridd_core::calendar::{WorkCalendar, WorkingWindow};
use gridd_core::category::{Catalogue, CategoryCode, LimitSpec, LimitUnit};
use gridd_core::components::OwnerRegistry;
use gridd_core::dedup::{DedupPolicy, MAX_RADIUS_M};
use gridd_core::escalation::{Ladder, LadderStep};
use gridd_core::grid::{Grid, GridErrors, GridSet};
use gridd_core::ids::CameraId;
use gridd_core::routing::Responsibility;
use gridd_core::ticket::StageLimits;
use gridd_core::verification::{SupervisorArea, VerificationPolicy};
use serde::Deserialize;

use crate::{ConfigError, calendar, catalogue, divisions, geojson, read_toml, squads};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CityFile {
    name: String,
    utc_offset: String,
    working_windows: Vec<String>,
    files: Files,
    stage_limits: StageLimits,
    escalation: EscalationEntry,
    dedup: DedupEntry,
    #[serde(default)]
    routing: RoutingEntry,
    #[serde(default)]
    verification: VerificationEntry,
    #[serde(default)]
    assessment: AssessmentEntry,
}

/// `[assessment]`: the monthly 考核's composite score, as points per rate
/// (`gridd_core::assessment::RateKind` names); a unit scores the weighted mean of its rates.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AssessmentEntry {
    #[serde(default)]
    weights: BTreeMap<String, f64>,
}

/// `[verification]`: which public reports a grid supervisor verifies on site before they
/// are filed (核实), who does, and what a dissatisfied reply (回访) does.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerificationEntry {
    #[serde(default)]
    channels: Vec<gridd_core::report::Channel>,
    #[serde(default)]
    categories: Vec<CategoryCode>,
    camera_below: Option<f32>,
    #[serde(default)]
    on_dissatisfied: gridd_core::ticket::OnDissatisfied,
    #[serde(default)]
    supervisors: Vec<SupervisorEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupervisorEntry {
    area: String,
    accounts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingEntry {
    /// A point outside the grid by at most this many metres goes to the nearest cell.
    outside_tolerance_m: f64,
}

impl Default for RoutingEntry {
    fn default() -> Self {
        Self { outside_tolerance_m: 30.0 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Files {
    divisions: PathBuf,
    grid: PathBuf,
    /// The city's outline; where given, holes it has (enclaves) are not gaps of the grid.
    boundary: Option<PathBuf>,
    /// The owner units of numbered components (部件), by id prefix.
    components: Option<PathBuf>,
    catalogue: PathBuf,
    calendars: Vec<PathBuf>,
    squads: PathBuf,
    cameras: PathBuf,
    detections: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalationEntry {
    repeat_every: f64,
    step: Vec<LadderStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupEntry {
    radius_m: f64,
    window: LimitSpec,
    camera_cooldown: LimitSpec,
    camera_min_confidence: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectionsFile {
    detection: Vec<DetectionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectionEntry {
    label: String,
    name: String,
    category: CategoryCode,
}

/// A camera of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Id.
    pub id: CameraId,
    /// Name, e.g. 新安路与北京路交叉口.
    pub name: String,
    /// WGS84 location.
    pub location: Point<f64>,
}

/// A loaded and validated city.
#[derive(Debug)]
pub struct CityConfig {
    /// City name.
    pub name: String,
    /// The city.toml the city was loaded from.
    pub path: PathBuf,
    /// The unit grid versions (each with the divisions).
    pub grids: GridSet,
    /// Points outside the grid by at most this many metres are placed in the nearest cell.
    pub outside_tolerance_m: f64,
    /// The catalogue.
    pub catalogue: Catalogue,
    /// Working-time calendar.
    pub calendar: WorkCalendar,
    /// Escalation ladder.
    pub ladder: Ladder,
    /// Stage limits.
    pub stages: StageLimits,
    /// Squads and rules.
    pub responsibility: Responsibility,
    /// Cameras by id.
    pub cameras: BTreeMap<CameraId, Camera>,
    /// Detector label → category, with the label's display name.
    pub detections: BTreeMap<String, (CategoryCode, String)>,
    /// Duplicate thresholds.
    pub dedup: DedupPolicy,
    /// Camera alerts below this confidence are rejected.
    pub camera_min_confidence: f32,
    /// The 考核's composite-score weights.
    pub weights: Weights,
    /// What waits for on-site verification before filing, who verifies it, and what a
    /// dissatisfied reply does.
    pub verification: VerificationPolicy,
    /// Owner units of numbered components (部件): routed to ahead of the category rules.
    pub components: OwnerRegistry,
    /// Things that are allowed but worth a log line (e.g. a year without holiday data).
    pub warnings: Vec<String>,
    /// Every file the city was loaded from, to notice edits.
    pub sources: Vec<PathBuf>,
}

impl CityConfig {
    /// The grid version that routes events received now (or at any instant: see
    /// [`GridSet::at`]); the newest loaded version for display.
    pub fn grid(&self) -> &Grid {
        self.grids.latest()
    }
}

/// Loads the city again after an edit, keeping earlier grid versions that still route events
/// received before the new grid's effective date. On error the caller keeps `previous`.
pub fn reload_city(previous: &CityConfig) -> Result<CityConfig, ConfigError> {
    let mut city = load_city(&previous.path)?;
    city.grids = previous.grids.with_shared(city.grids.latest_shared());
    Ok(city)
}

/// Loads `city.toml` and every file it names (paths relative to it).
pub fn load_city(path: &Path) -> Result<CityConfig, ConfigError> {
    let file: CityFile = read_toml(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let at = |p: &Path| dir.join(p);
    let err = |item: &str, reason: String| ConfigError::new(path, item, reason);

    let offset = parse_offset(&file.utc_offset).map_err(|r| err("utc_offset", r))?;
    let windows = file
        .working_windows
        .iter()
        .map(|w| WorkingWindow::parse(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|r| err("working_windows", r))?;
    let mut overrides = BTreeMap::new();
    let mut years = BTreeSet::new();
    for year_file in &file.files.calendars {
        years.insert(calendar::load_year(&at(year_file), &mut overrides)?);
    }
    let calendar = WorkCalendar::new(offset, windows, overrides, years).map_err(|r| err("working_windows", r))?;
    let ladder = Ladder::new(file.escalation.step, file.escalation.repeat_every).map_err(|r| err("escalation", r))?;
    let dedup = DedupPolicy {
        radius_m: merge_radius(file.dedup.radius_m).map_err(|r| err("dedup.radius_m", r))?,
        window_ms: clock_millis(file.dedup.window).map_err(|r| err("dedup.window", r))?,
        camera_cooldown_ms: clock_millis(file.dedup.camera_cooldown).map_err(|r| err("dedup.camera_cooldown", r))?,
    };
    if !(0.0..=1.0).contains(&file.dedup.camera_min_confidence) {
        return Err(err("dedup.camera_min_confidence", "must be between 0 and 1".into()));
    }

    if !(file.routing.outside_tolerance_m.is_finite() && file.routing.outside_tolerance_m >= 0.0) {
        return Err(err("routing.outside_tolerance_m", "must be a distance in metres, 0 or more".into()));
    }
    let divisions = divisions::load(&at(&file.files.divisions))?;
    let grid_path = at(&file.files.grid);
    let boundary = file.files.boundary.as_ref().map(|p| geojson::read_boundary(&at(p))).transpose()?;
    let grid = load_grid(&grid_path, divisions, boundary.as_ref())?;
    let catalogue = catalogue::load(&at(&file.files.catalogue))?;
    let responsibility = squads::load(&at(&file.files.squads), grid.divisions())?;
    let cameras = load_cameras(&at(&file.files.cameras))?;
    let verification = verification_policy(file.verification, &catalogue, grid.divisions()).map_err(|(item, r)| err(&item, r))?;
    let components = match &file.files.components {
        Some(p) => load_components(&at(p), &responsibility)?,
        None => OwnerRegistry::default(),
    };
    let detections = load_detections(&at(&file.files.detections), &catalogue)?;
    let weights = assessment_weights(file.assessment).map_err(|(item, r)| err(&item, r))?;

    let mut warnings = Vec::new();
    let this_year = chrono::Utc::now().with_timezone(&offset).format("%Y").to_string().parse().unwrap_or(0);
    for year in [this_year, this_year + 1] {
        if !calendar.covers_year(year) {
            warnings.push(format!("{}: no holiday calendar for {year}; weekends only are days off that year", path.display()));
        }
    }
    for camera in cameras.values() {
        if grid.locate(camera.location).is_none() {
            warnings.push(format!("camera {} ({}) lies outside the grid; its alerts go to the manual queue", camera.id, camera.name));
        }
    }
    let f = &file.files;
    let mut sources = vec![path.to_path_buf()];
    sources.extend([&f.divisions, &f.grid, &f.catalogue, &f.squads, &f.cameras, &f.detections].into_iter().map(|p| at(p)));
    sources.extend(f.boundary.iter().chain(&f.components).map(|p| at(p)));
    sources.extend(f.calendars.iter().map(|p| at(p)));
    Ok(CityConfig {
        name: file.name,
        path: path.to_path_buf(),
        grids: GridSet::new(grid),
        outside_tolerance_m: file.routing.outside_tolerance_m,
        sources,
        catalogue,
        calendar,
        ladder,
        stages: file.stage_limits,
        responsibility,
        cameras,
        detections,
        dedup,
        camera_min_confidence: file.dedup.camera_min_confidence,
        verification,
        components,
        weights,
        warnings,
    })
}

/// Checks `[assessment.weights]`: known rates, points above 0. None given: the standard weights.
fn assessment_weights(entry: AssessmentEntry) -> Result<Weights, (String, String)> {
    if entry.weights.is_empty() {
        return Ok(Weights::standard());
    }
    let mut weights = Vec::new();
    for (name, points) in entry.weights {
        let item = format!("assessment.weights.{name}");
        let kind = RateKind::from_name(&name).ok_or_else(|| {
            let known: Vec<_> = RateKind::ALL.iter().map(|k| k.name()).collect();
            (item.clone(), format!("not a rate; one of {}", known.join(", ")))
        })?;
        if !(points.is_finite() && points > 0.0) {
            return Err((item, "must be a number of points above 0".into()));
        }
        weights.push((kind, points));
    }
    Ok(Weights(weights))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentsFile {
    #[serde(default)]
    owner: Vec<OwnerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerEntry {
    prefix: String,
    unit: gridd_core::ids::SquadId,
}

/// Loads `components.toml`: every owner must be a configured squad or department.
fn load_components(path: &Path, responsibility: &Responsibility) -> Result<OwnerRegistry, ConfigError> {
    let file: ComponentsFile = read_toml(path)?;
    if let Some((i, o)) = file.owner.iter().enumerate().find(|(_, o)| responsibility.squad(&o.unit).is_none()) {
        return Err(ConfigError::new(path, format!("owner[{i}].unit"), format!("{} is not a squad or department of squads.toml", o.unit)));
    }
    OwnerRegistry::new(file.owner.into_iter().map(|o| (o.prefix, o.unit)).collect()).map_err(|r| ConfigError::new(path, "owner", r))
}

/// Checks `[verification]`: channels that can wait, known categories, a confidence in 0..1,
/// and supervisor areas that are streets or communities of the city.
fn verification_policy(
    entry: VerificationEntry,
    catalogue: &Catalogue,
    divisions: &gridd_core::grid::Divisions,
) -> Result<VerificationPolicy, (String, String)> {
    use gridd_core::report::Channel;
    if let Some(c) = entry.channels.iter().find(|c| matches!(c, Channel::Patrol | Channel::Camera)) {
        let why = format!("{} reports are not verified by channel (patrol reports are filed directly; cameras use camera_below)", c.name());
        return Err(("verification.channels".into(), why));
    }
    if let Some(code) = entry.categories.iter().find(|c| catalogue.get(c).is_none()) {
        return Err(("verification.categories".into(), format!("{code} is not in the catalogue")));
    }
    if entry.camera_below.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        return Err(("verification.camera_below".into(), "must be between 0 and 1".into()));
    }
    let mut supervisors = Vec::with_capacity(entry.supervisors.len());
    for (i, s) in entry.supervisors.into_iter().enumerate() {
        let item = format!("verification.supervisors[{i}]");
        let known = match s.area.len() {
            9 => gridd_core::ids::StreetCode::parse(&s.area).ok().is_some_and(|c| divisions.street(&c).is_some()),
            12 => gridd_core::ids::CommunityCode::parse(&s.area).ok().is_some_and(|c| divisions.community(&c).is_some()),
            _ => false,
        };
        if !known {
            return Err((format!("{item}.area"), format!("{:?} is not a street (9 digits) or community (12 digits) of the city", s.area)));
        }
        if s.accounts.is_empty() || s.accounts.iter().any(|a| a.trim().is_empty()) {
            return Err((format!("{item}.accounts"), "names at least one supervisor account, none empty".into()));
        }
        supervisors.push(SupervisorArea { area: s.area, supervisors: s.accounts });
    }
    Ok(VerificationPolicy {
        channels: entry.channels,
        categories: entry.categories,
        camera_below: entry.camera_below,
        supervisors,
        on_dissatisfied: entry.on_dissatisfied,
    })
}

/// Reads, validates and indexes a grid file against the divisions. A grid with problems is
/// refused whole; the error shows the first few (`gridd grid check` lists them all).
pub fn load_grid(
    path: &Path,
    divisions: gridd_core::grid::Divisions,
    boundary: Option<&geo::MultiPolygon<f64>>,
) -> Result<Grid, ConfigError> {
    let file = geojson::read_grid(path)?;
    match Grid::load_within(file.version, divisions, file.cells, boundary) {
        Ok(grid) => Ok(grid.with_effective_from(file.effective_from)),
        Err(GridErrors(problems)) => {
            let shown: Vec<String> = problems.iter().take(5).map(ToString::to_string).collect();
            let more = problems.len().saturating_sub(shown.len());
            let tail = if more > 0 { format!("; and {more} more (gridd grid check lists them all)") } else { String::new() };
            let first = problems.first().map(|p| p.cell.clone()).unwrap_or_default();
            Err(ConfigError::new(path, first, format!("{} problem(s): {}{tail}", problems.len(), shown.join("; "))))
        }
    }
}

fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("{s:?} is not an offset like +08:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

fn positive(x: f64) -> Result<f64, String> {
    if x.is_finite() && x > 0.0 { Ok(x) } else { Err(format!("must be positive, got {x}")) }
}

/// A merge radius: positive and at most [`MAX_RADIUS_M`].
fn merge_radius(x: f64) -> Result<f64, String> {
    let x = positive(x)?;
    if x <= MAX_RADIUS_M { Ok(x) } else { Err(format!("must be at most {MAX_RADIUS_M} metres (reports merge with cases nearby), got {x}")) }
}

fn clock_millis(spec: LimitSpec) -> Result<i64, String> {
    let unit_ms: u64 = match spec.unit {
        LimitUnit::Hours => 3_600_000,
        LimitUnit::Minutes => 60_000,
        LimitUnit::Seconds => 1000,
        LimitUnit::WorkingHours | LimitUnit::WorkingDays => {
            return Err(format!("{spec} must be clock time (h, min or s), not working time"));
        }
    };
    i64::try_from(spec.milli_amount.saturating_mul(unit_ms) / 1000).map_err(|_| format!("{spec} is too long"))
}

/// `cameras.csv`: header `camera_id,name,lon,lat` (WGS84).
fn load_cameras(path: &Path) -> Result<BTreeMap<CameraId, Camera>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, h)| h.trim()) != Some("camera_id,name,lon,lat") {
        return Err(ConfigError::new(path, "line 1", "header must be camera_id,name,lon,lat"));
    }
    let mut cameras = BTreeMap::new();
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let item = format!("line {}", i + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [id, name, lon, lat] = fields[..] else {
            return Err(ConfigError::new(path, item, format!("expected 4 fields, got {}", fields.len())));
        };
        let item = format!("{item} ({id})");
        gridd_core::ids::validate_token("camera_id", id, 64).map_err(|e| ConfigError::new(path, &item, e.to_string()))?;
        let (lon, lat): (f64, f64) = match (lon.parse(), lat.parse()) {
            (Ok(lon), Ok(lat)) => (lon, lat),
            _ => return Err(ConfigError::new(path, item, "lon and lat must be numbers")),
        };
        gridd_core::coords::validate_lon_lat(lon, lat).map_err(|e| ConfigError::new(path, &item, e.to_string()))?;
        let camera = Camera { id: CameraId::new(id), name: name.to_owned(), location: Point::new(lon, lat) };
        if cameras.insert(camera.id.clone(), camera).is_some() {
            return Err(ConfigError::new(path, item, "camera id is listed twice"));
        }
    }
    Ok(cameras)
}

/// `detections.toml`: detector labels and the categories they file under.
fn load_detections(path: &Path, catalogue: &Catalogue) -> Result<BTreeMap<String, (CategoryCode, String)>, ConfigError> {
    let file: DetectionsFile = read_toml(path)?;
    let mut map = BTreeMap::new();
    for d in file.detection {
        let item = format!("detection {}", d.label);
        if catalogue.get(&d.category).is_none() {
            return Err(ConfigError::new(path, item, format!("category {} is not in the catalogue", d.category)));
        }
        if map.insert(d.label.clone(), (d.category, d.name)).is_some() {
            return Err(ConfigError::new(path, item, "label is listed twice"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_clock_limits() {
        assert_eq!(parse_offset("+08:00").map(|o| o.local_minus_utc()), Ok(8 * 3600));
        assert!(parse_offset("08:00").is_err());
        assert_eq!(clock_millis(LimitSpec::parse("30min").expect("valid")), Ok(1_800_000));
        assert!(clock_millis(LimitSpec::parse("2WH").expect("valid")).is_err());
    }

    #[test]
    fn a_merge_radius_is_positive_and_at_most_a_kilometre() {
        assert_eq!(merge_radius(50.0), Ok(50.0));
        assert_eq!(merge_radius(1000.0), Ok(1000.0));
        let city_wide = merge_radius(30_000.0).expect_err("a city-wide radius");
        assert!(city_wide.contains("at most 1000 metres"), "{city_wide}");
        assert!(merge_radius(0.0).is_err());
        assert!(merge_radius(f64::NAN).is_err());
    }
}

#[cfg(test)]
mod demo_city {
    use super::*;

    /// The shipped demo city loads and is what the README says it is.
    #[test]
    fn xinyi_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/xinyi/city.toml");
        let city = load_city(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(city.grid().divisions().city.as_str(), "320381");
        assert_eq!(city.grid().divisions().streets().count(), 21);
        assert!(city.grid().cells().len() > 10_000, "{} cells", city.grid().cells().len());
        assert!(city.catalogue.classes().count() >= 60);
        assert!(city.responsibility.squads().any(|s| s.name == "一中队"));
        assert!(city.calendar.covers_year(2026));
        // 新沂市 government area lies in 新安街道 on the demo grid.
        let cell = city.grid().locate(Point::new(118.350, 34.372)).expect("city centre is in the grid");
        assert_eq!(city.grid().street_of(cell).map(|s| s.name.as_str()), Some("新安街道"));
    }
}
