//! The operator's commands, run as the real binary.

use std::process::Command;

use gridd_tests::gridd_binary;

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// A GeoJSON feature for cell `code` with polygon `coordinates`.
fn feature(code: &str, coordinates: String) -> String {
    format!(r#"{{"type":"Feature","properties":{{"code":"{code}"}},"geometry":{{"type":"Polygon","coordinates":{coordinates}}}}}"#)
}

/// Writes `features` as grid `version` and runs `gridd grid check` on it with the demo city's
/// divisions: the exit code and the report.
fn grid_check(version: &str, features: &[String]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("grid.geojson");
    let text = format!(r#"{{"type":"FeatureCollection","grid_version":"{version}","features":[{}]}}"#, features.join(","));
    std::fs::write(&file, text).expect("write");
    let out = Command::new(gridd_binary())
        .args(["grid", "check", &file.display().to_string(), "--divisions", &repo("config/xinyi/divisions.csv")])
        .output()
        .expect("run gridd");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn grid_check_lists_every_problem_with_its_cell() {
    let square = |x: f64| format!("[[[{x},34.0],[{},34.0],[{},34.01],[{x},34.01],[{x},34.0]]]", x + 0.01, x + 0.01);
    let features = [
        feature("320381001001001", square(118.30)),
        feature("320381001001002", square(118.305)),
        feature("3203810010010", square(118.40)),
        feature("320381001999001", square(118.50)),
    ];
    let (code, report) = grid_check("bad-1", &features);
    assert_eq!(code, Some(1), "a bad grid fails the check:\n{report}");
    assert!(report.contains("cell 3203810010010: a cell code is 15 digits"), "{report}");
    assert!(report.contains("cell 320381001999001: community 320381001999 is not in the division list"), "{report}");
    assert!(report.contains("2 problem(s)"), "codes first; overlaps are checked once the codes are right:\n{report}");

    let good = Command::new(gridd_binary()).args(["grid", "check", &repo("config/xinyi/grid.geojson")]).output().expect("run gridd");
    let report = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{report}");
    assert!(report.contains("ok — grid xinyi-2026.11") && report.contains("12767 cells"), "{report}");
}

#[test]
fn grid_check_finds_overlaps_and_gaps() {
    // Six decimals, as grid files are written.
    let square = |x: f64, y: f64| {
        let (x0, y0, x1, y1) = (format!("{x:.6}"), format!("{y:.6}"), format!("{:.6}", x + 0.01), format!("{:.6}", y + 0.01));
        format!("[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]")
    };
    let cell = |n: usize, coordinates: String| feature(&format!("320381001001{n:03}"), coordinates);
    // A 3 × 3 block with its centre missing, and one cell overlapping its neighbour.
    let mut features = Vec::new();
    for (n, (i, j)) in [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 2)].into_iter().enumerate() {
        features.push(cell(n + 1, square(118.30 + i as f64 * 0.01, 34.0 + j as f64 * 0.01)));
    }
    features.push(cell(9, square(118.335, 34.0)));
    features.push(cell(10, square(118.34, 34.0)));
    let (code, report) = grid_check("bad-2", &features);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("cell 320381001001009: overlaps cell 320381001001010"), "{report}");
    assert!(report.contains("gap of") && report.contains("m² in the grid"), "{report}");
}

#[test]
fn a_county_with_an_enclave_loads_and_a_real_gap_is_still_refused() {
    // A 3 × 3 block without its centre, in a county whose outline has the centre cut out: land
    // of another jurisdiction (飞地).
    let ring = |x0: f64, y0: f64, x1: f64, y1: f64| {
        format!("[{x0:.6},{y0:.6}],[{x1:.6},{y0:.6}],[{x1:.6},{y1:.6}],[{x0:.6},{y1:.6}],[{x0:.6},{y0:.6}]")
    };
    let features: Vec<String> = [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 2)]
        .into_iter()
        .enumerate()
        .map(|(n, (i, j))| {
            let (x, y) = (118.30 + f64::from(i) * 0.01, 34.0 + f64::from(j) * 0.01);
            feature(&format!("320381001001{:03}", n + 1), format!("[[{}]]", ring(x, y, x + 0.01, y + 0.01)))
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let grid = dir.path().join("grid.geojson");
    let text = format!(r#"{{"type":"FeatureCollection","grid_version":"enclave-1","features":[{}]}}"#, features.join(","));
    std::fs::write(&grid, text).expect("write the grid");
    let outline = |hole: &str| {
        let polygon = format!("[[{}],[{hole}]]", ring(118.30, 34.0, 118.33, 34.03));
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{polygon}}}}}]}}"#
        )
    };
    let check = |extra: &[&str]| {
        let mut args =
            vec!["grid".to_owned(), "check".into(), grid.display().to_string(), "--divisions".into(), repo("config/xinyi/divisions.csv")];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let out = Command::new(gridd_binary()).args(&args).output().expect("run gridd");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Without the outline the hole looks like a gap.
    let (code, report) = check(&[]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("gap of"), "{report}");
    // boundary.geojson beside the grid (the city's layout) has the enclave: it loads.
    std::fs::write(dir.path().join("boundary.geojson"), outline(&ring(118.31, 34.01, 118.32, 34.02))).expect("write the outline");
    let (code, report) = check(&[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("ok — grid enclave-1, 8 cells"), "{report}");
    // An outline whose hole is elsewhere leaves the gap a gap.
    let elsewhere = dir.path().join("elsewhere.geojson");
    std::fs::write(&elsewhere, outline(&ring(118.30, 34.0, 118.305, 34.005))).expect("write the outline");
    let (code, report) = check(&["--boundary", &elsewhere.display().to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("gap of"), "{report}");
}

#[test]
fn locate_explains_one_point_and_batches() {
    let config = repo("config/gridd.toml");
    let one = Command::new(gridd_binary())
        .args(["--config", &config, "locate", "118.3546", "34.3725", "--category", "E0102", "--at", "2026-11-23T10:00:00+08:00"])
        .output()
        .expect("run gridd");
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(one.status.success(), "{text}");
    assert!(text.contains("新安街道") && text.contains("E0102 → 一中队 (sq-1)") && text.contains("territorial-default"), "{text}");

    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("points.csv");
    std::fs::write(&input, "id,lon,lat\n1,118.3546,34.3725\n2,0.0,0.0\n").expect("write");
    let batch = Command::new(gridd_binary())
        .args(["--config", &config, "locate", "--batch", &input.display().to_string()])
        .output()
        .expect("run gridd");
    let text = String::from_utf8_lossy(&batch.stdout);
    assert!(batch.status.success());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("1,118.3546,34.3725,320381001"), "{text}");
    assert!(lines[2].starts_with("2,0.0,0.0,,"), "{text}");
}

#[test]
fn roles_need_the_distributed_mode_and_its_settings_are_checked() {
    let run = |args: &[&str]| {
        let out = Command::new(gridd_binary()).args(args).output().expect("run gridd");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&["--config", &repo("config/gridd.toml"), "--role", "router", "run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--role needs a [distributed] section"), "{stderr}");

    let (code, stderr) = run(&["--config", &repo("config/gridd.toml"), "--role", "dispatcher", "run"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'dispatcher' for '--role"), "{stderr}");

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gridd.toml");
    let text = format!(
        "city = {:?}\n[server]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
         [distributed]\npostgres = \"postgres://gridd@db/gridd\"\nkafka = \"kafka:9092\"\npartitions = 0\n",
        repo("config/xinyi/city.toml")
    );
    std::fs::write(&config, text).expect("write");
    let (code, stderr) = run(&["--config", &config.display().to_string(), "check-config"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("gridd.toml") && stderr.contains("distributed") && stderr.contains("at least 1"), "{stderr}");
}

#[test]
fn the_load_tool_drives_whole_lifecycles_and_reports_percentiles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = gridd_tests::EngineProcess::start(dir.path());
    let target = format!("http://{}", engine.grpc_addr);
    let config = dir.path().join("gridd.toml");
    let args = ["bench", "--scenario", "lifecycle", "--clients", "2", "--seconds", "2", "--target", &target, "--key", &engine.key];
    let out = gridd_tests::gridd_cli(&config, &args, "");
    let row = |op: &str| out.lines().find(|l| l.starts_with(op)).unwrap_or_else(|| panic!("no {op} row in:\n{out}")).to_owned();
    let lifecycles: u64 = row("lifecycle").split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a count");
    assert!(lifecycles > 0, "cases went the whole way:\n{out}");
    for op in ["patrol report", "report → terminal", "accept", "start", "resolve", "check"] {
        // count, per second, p50, p90, p99, p99.9, max: in order, percentiles never decreasing.
        let line = row(op);
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let figures: Vec<f64> = tokens[tokens.len() - 7..].iter().map(|t| t.parse().expect("a number")).collect();
        assert!(figures[0] >= lifecycles as f64, "{op}: at least as many as whole lifecycles:\n{out}");
        assert!(figures[2..].windows(2).all(|w| w[0] <= w[1]) && figures[2] > 0.0, "{op}: percentiles in order:\n{out}");
    }
    assert!(out.contains("p50 ms") && out.contains("p99 ms"), "{out}");
    engine.terminate();
}

#[test]
fn the_load_tool_paces_its_reports_at_the_rate_asked_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = gridd_tests::EngineProcess::start(dir.path());
    let target = format!("http://{}", engine.grpc_addr);
    let config = dir.path().join("gridd.toml");
    let args =
        ["bench", "--scenario", "dispatch", "--rate", "20", "--clients", "4", "--seconds", "2", "--target", &target, "--key", &engine.key];
    let out = gridd_tests::gridd_cli(&config, &args, "");
    // An operation's row: its count, then its rate per second, then its latencies.
    let figure = |op: &str, column: usize| -> f64 {
        let row = out.lines().find(|l| l.starts_with(op)).unwrap_or_else(|| panic!("no {op} row in:\n{out}"));
        row[op.len()..].split_whitespace().nth(column).and_then(|n| n.parse().ok()).expect("a figure")
    };
    let count = |op: &str| figure(op, 0) as u64;
    // Report n is due n / 20 s into the run: those due within its 2 s are reports 0 to 40.
    let reports = count("patrol report");
    assert!((1..=41).contains(&reports), "at most 20 reports a second, as asked:\n{out}");
    // Rates are over the load's seconds, not the wait for the last tasks after it.
    let load: f64 =
        out.split(" s of load").next().and_then(|head| head.rsplit(' ').next()).and_then(|n| n.parse().ok()).expect("seconds of load");
    assert!((2.0..2.5).contains(&load), "the load lasted the 2 s asked for:\n{out}");
    let per_second = figure("patrol report", 1);
    // The seconds and the rate are both printed to a tenth: the load was within 0.05 s of the
    // printed figure, and the rate within 0.05 of the count over it.
    let (fewest, most) = (reports as f64 / (load + 0.05) - 0.05, reports as f64 / (load - 0.05) + 0.05);
    assert!((fewest..=most).contains(&per_second), "{reports} reports over {load} s of load:\n{out}");
    assert!(count("report → terminal") > 0, "the tasks reached the squads' feeds:\n{out}");
    assert!(!out.lines().any(|l| l.starts_with("accept")), "the dispatch scenario stops at the terminal:\n{out}");
    let refused = Command::new(gridd_binary())
        .args(["--config", &config.display().to_string(), "bench", "--rate", "0", "--target", &target, "--key", &engine.key])
        .output()
        .expect("run gridd");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--rate") && stderr.contains("not a positive number of operations per second"), "{stderr}");
    engine.terminate();
}

#[test]
fn check_config_says_how_long_the_log_keeps_consumed_records() {
    let out = Command::new(gridd_binary()).args(["--config", &repo("config/gridd.toml"), "check-config"]).output().expect("run gridd");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("log retention: consumed intake records kept 72 h, dispatch records 72 h; case histories kept"), "{printed}");
}
