//! Splitting the lattice among streets (街道/镇) and communities (社区/村).
//!
//! Real street and community boundaries are not published, so the split is synthetic:
//! streets by nearest seed (a Voronoi diagram on the coarse square centres), communities by
//! farthest-point sampling followed by a few rounds of Lloyd relaxation (k-means) over the
//! street's cells. Everything is deterministic: ties go to the lower index.

/// An approximate street seed (WGS84): plausible, not surveyed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    /// 9-digit street code.
    pub code: &'static str,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Voronoi weight: distances to this seed are divided by it (1 = plain Voronoi).
    pub weight: f64,
}

const fn seed(code: &'static str, lon: f64, lat: f64) -> Seed {
    Seed { code, lon, lat, weight: 1.0 }
}

const fn weighted(code: &'static str, lon: f64, lat: f64, weight: f64) -> Seed {
    Seed { code, lon, lat, weight }
}

/// Seeds of the 21 street-level units of 新沂市.
pub const STREET_SEEDS: [Seed; 21] = [
    seed("320381001", 118.350, 34.372),         // 新安街道
    seed("320381002", 118.378, 34.388),         // 北沟街道
    seed("320381003", 118.322, 34.358),         // 墨河街道
    seed("320381004", 118.366, 34.346),         // 唐店街道
    seed("320381005", 118.330, 34.392),         // 钟吾街道
    seed("320381102", 118.16, 34.27),           // 瓦窑镇
    seed("320381103", 118.28, 34.45),           // 港头镇
    seed("320381105", 118.13, 34.37),           // 合沟镇
    seed("320381106", 118.23, 34.33),           // 草桥镇
    seed("320381107", 118.07, 34.17),           // 窑湾镇
    seed("320381108", 118.26, 34.22),           // 棋盘镇
    seed("320381109", 118.49, 34.43),           // 马陵山镇
    seed("320381110", 118.44, 34.32),           // 新店镇
    seed("320381111", 118.44, 34.21),           // 邵店镇
    seed("320381113", 118.35, 34.17),           // 时集镇
    seed("320381114", 118.54, 34.28),           // 高流镇
    seed("320381115", 118.60, 34.38),           // 阿湖镇
    seed("320381116", 118.20, 34.13),           // 双塘镇
    weighted("320381401", 118.39, 34.35, 0.6),  // 经济开发区
    weighted("320381402", 118.27, 34.30, 0.75), // 锡沂高新区
    weighted("320381403", 118.52, 34.40, 0.75), // 马陵山风景名胜区
];

/// A point in metres.
pub type Xy = (f64, f64);

fn dist2(p: Xy, q: Xy) -> f64 {
    (p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)
}

/// Index (into `seeds`) of the seed nearest to `p`, distances divided by the seed weights.
pub fn nearest_weighted(p: Xy, seeds: &[(Xy, f64)]) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (k, &(s, w)) in seeds.iter().enumerate() {
        let d = dist2(p, s) / (w * w);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn nearest(p: Xy, centres: &[Xy]) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (k, &c) in centres.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.0 {
            best = (d, k);
        }
    }
    best.1
}

/// `k` seeds by farthest-point sampling, starting from the north-westernmost point (largest
/// `y - x`). Fails if there are fewer than `k` distinct points.
pub fn farthest_points(points: &[Xy], k: usize) -> Result<Vec<usize>, String> {
    if k == 0 || points.len() < k {
        return Err(format!("cannot pick {k} seeds from {} cells", points.len()));
    }
    let mut start = 0;
    for (i, p) in points.iter().enumerate() {
        if p.1 - p.0 > points[start].1 - points[start].0 {
            start = i;
        }
    }
    let mut chosen = vec![start];
    let mut gap: Vec<f64> = points.iter().map(|&p| dist2(p, points[start])).collect();
    while chosen.len() < k {
        let mut next = 0;
        for (i, &g) in gap.iter().enumerate() {
            if g > gap[next] {
                next = i;
            }
        }
        if gap[next] <= 0.0 {
            return Err(format!("only {} distinct cell positions for {k} communities", chosen.len()));
        }
        chosen.push(next);
        for (i, g) in gap.iter_mut().enumerate() {
            *g = g.min(dist2(points[i], points[next]));
        }
    }
    Ok(chosen)
}

/// Splits `points` into `k` compact groups: farthest-point seeds, nearest-seed assignment,
/// then `rounds` of Lloyd relaxation. Returns each point's group and the group centres.
/// Every group is non-empty.
pub fn split(points: &[Xy], k: usize, rounds: usize) -> Result<(Vec<usize>, Vec<Xy>), String> {
    let mut centres: Vec<Xy> = farthest_points(points, k)?.into_iter().map(|i| points[i]).collect();
    let mut group: Vec<usize> = points.iter().map(|&p| nearest(p, &centres)).collect();
    for _ in 0..rounds {
        let mut sums = vec![(0.0, 0.0, 0usize); k];
        for (&p, &g) in points.iter().zip(&group) {
            sums[g].0 += p.0;
            sums[g].1 += p.1;
            sums[g].2 += 1;
        }
        for (g, &(sx, sy, n)) in sums.iter().enumerate() {
            if n > 0 {
                centres[g] = (sx / n as f64, sy / n as f64);
            } else {
                // An empty group restarts at the point farthest from its own centre.
                let far = (0..points.len())
                    .max_by(|&i, &j| dist2(points[i], centres[group[i]]).total_cmp(&dist2(points[j], centres[group[j]])).then(j.cmp(&i)))
                    .ok_or("no cells")?;
                centres[g] = points[far];
            }
        }
        group = points.iter().map(|&p| nearest(p, &centres)).collect();
    }
    let mut counts = vec![0usize; k];
    for &g in &group {
        counts[g] += 1;
    }
    if let Some(empty) = counts.iter().position(|&n| n == 0) {
        return Err(format!("group {empty} of {k} ended up without cells"));
    }
    Ok((group, centres))
}

/// Orders group centres for numbering: 1 km bands from north to south, west to east within a
/// band. Returns the rank of each group.
pub fn reading_ranks(centres: &[Xy]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..centres.len()).collect();
    let band = |c: Xy| (-c.1 / 1000.0).floor() as i64;
    order.sort_by(|&i, &j| band(centres[i]).cmp(&band(centres[j])).then(centres[i].0.total_cmp(&centres[j].0)).then(i.cmp(&j)));
    let mut rank = vec![0; centres.len()];
    for (r, &g) in order.iter().enumerate() {
        rank[g] = r;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lattice_points(w: usize, h: usize) -> Vec<Xy> {
        (0..h).flat_map(|r| (0..w).map(move |c| (c as f64 * 100.0, -(r as f64) * 100.0))).collect()
    }

    #[test]
    fn weighted_voronoi() {
        let seeds = [((0.0, 0.0), 1.0), ((1000.0, 0.0), 1.0)];
        assert_eq!(nearest_weighted((400.0, 0.0), &seeds), Some(0));
        assert_eq!(nearest_weighted((600.0, 0.0), &seeds), Some(1));
        let heavier = [((0.0, 0.0), 2.0), ((1000.0, 0.0), 1.0)];
        assert_eq!(nearest_weighted((600.0, 0.0), &heavier), Some(0));
        assert_eq!(nearest_weighted((0.0, 0.0), &[]), None);
    }

    #[test]
    fn farthest_points_start_north_west() {
        let pts = lattice_points(10, 10);
        let seeds = farthest_points(&pts, 3).expect("seeds");
        assert_eq!(pts[seeds[0]], (0.0, 0.0)); // top-left
        assert_eq!(pts[seeds[1]], (900.0, -900.0)); // opposite corner
        assert!(farthest_points(&pts, 101).is_err());
        assert!(farthest_points(&[(0.0, 0.0), (0.0, 0.0)], 2).is_err());
    }

    #[test]
    fn split_covers_every_group_and_is_balanced() {
        let pts = lattice_points(30, 20);
        let (group, centres) = split(&pts, 6, 4).expect("split");
        assert_eq!(centres.len(), 6);
        let mut counts = [0usize; 6];
        for g in group {
            counts[g] += 1;
        }
        assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
        assert!(counts.iter().all(|&n| n < 200), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 600);
        // Deterministic.
        assert_eq!(split(&pts, 6, 4).expect("split").0, split(&pts, 6, 4).expect("split").0);
    }

    #[test]
    fn ranks_read_north_to_south_then_west_to_east() {
        let centres = [(5000.0, -3000.0), (0.0, 0.0), (9000.0, -200.0), (100.0, -2500.0)];
        assert_eq!(reading_ranks(&centres), vec![3, 0, 1, 2]);
    }

    #[test]
    fn every_street_has_a_seed_once() {
        let mut codes: Vec<_> = STREET_SEEDS.iter().map(|s| s.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 21);
    }
}
