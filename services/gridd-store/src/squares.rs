//! The squares the router's duplicate index is keyed by: 0.002° of latitude by 0.002° of
//! longitude, about 220 m by 185 m in the demo city.
//!
//! A lookup for the cases near a report asks for a category's cases in the few squares its
//! search box touches (one to four at the demo city's 50 m) opened in the merge window, each an
//! equality in the index followed by a range on the opening time. Keyed by latitude instead,
//! a lookup read every case of the category in a thin band across the whole city, opened in
//! any year: the cost grew with the store's history, not with the window.
//!
//! The size is a trade: smaller squares hold fewer cases of the window each, but a box touches
//! more of them, and every square is one more seek. On the cases of a 15 s intake run, a 50 m
//! box touched 4.02 squares of 0.001° on average and 2.27 of 0.002°, with one case in it either
//! way. A lookup's cost grows with its box's area: a similar-case search of 1 km (the gateway's
//! longest) asks for about 120 squares.

use geo::Point;

/// Squares per degree, on each axis.
const PER_DEGREE: f64 = 500.0;

/// Keys of two rows of squares are this far apart: more than the 180,001 squares of a row.
const ROW_STRIDE: i64 = 1_000_000;

/// The square holding `point`, or `None` for a point that is not a finite lon/lat.
pub(crate) fn square_of(point: Point<f64>) -> Option<i64> {
    let (row, column) = (cell(point.y())?, cell(point.x())?);
    Some(row * ROW_STRIDE + column)
}

/// Every square that a point inside the box can be in; empty for a box that is not finite.
pub(crate) fn squares_covering(min: Point<f64>, max: Point<f64>) -> Vec<i64> {
    let (Some(rows), Some(columns)) = (cells_between(min.y(), max.y()), cells_between(min.x(), max.x())) else {
        return Vec::new();
    };
    rows.flat_map(|row| columns.clone().map(move |column| row * ROW_STRIDE + column)).collect()
}

/// The row or column of a coordinate. `floor` is monotonic, so a coordinate between two others
/// is in a row or column between theirs: a box's squares are its corners' and all between.
fn cell(degrees: f64) -> Option<i64> {
    let scaled = (degrees * PER_DEGREE).floor();
    // Degrees are within ±180, so a finite value fits with room to spare.
    (scaled.is_finite() && scaled.abs() <= 180.0 * PER_DEGREE).then_some(scaled as i64)
}

fn cells_between(low: f64, high: f64) -> Option<std::ops::RangeInclusive<i64>> {
    Some(cell(low)?..=cell(high)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_in_one_of_the_squares_of_any_box_around_it() {
        let point = Point::new(118.3549999, 34.3700001);
        let square = square_of(point).expect("a city's point");
        for (d_lon, d_lat) in [(0.0006, 0.00046), (0.00001, 0.00001), (0.002, 0.0)] {
            let around =
                squares_covering(Point::new(point.x() - d_lon, point.y() - d_lat), Point::new(point.x() + d_lon, point.y() + d_lat));
            assert!(around.contains(&square), "box ±{d_lon}/±{d_lat}: {around:?} misses {square}");
        }
    }

    #[test]
    fn a_50_m_box_touches_one_to_four_squares_wherever_it_lies() {
        // The demo city's radius, at its latitude: 0.00045° by 0.00055° each side of the point,
        // the point moved across a whole square in steps of a tenth.
        let counts: Vec<usize> = (0..10)
            .flat_map(|i| (0..10).map(move |j| Point::new(118.35 + 0.0002 * f64::from(i), 34.37 + 0.0002 * f64::from(j))))
            .map(|p| squares_covering(Point::new(p.x() - 0.00055, p.y() - 0.00045), Point::new(p.x() + 0.00055, p.y() + 0.00045)).len())
            .collect();
        assert_eq!(counts.iter().min(), Some(&1), "a box inside one square asks for it alone");
        assert_eq!(counts.iter().max(), Some(&4), "a box on a corner asks for the four around it");
    }

    #[test]
    fn squares_on_either_side_of_a_line_differ_and_rows_do_not_overlap() {
        assert_ne!(square_of(Point::new(118.3499, 34.37)), square_of(Point::new(118.3501, 34.37)));
        assert_ne!(square_of(Point::new(-179.9, 34.3705)), square_of(Point::new(179.9, 34.3695)));
        assert_eq!(square_of(Point::new(-0.0005, -0.0005)), Some(-ROW_STRIDE - 1));
    }

    #[test]
    fn what_is_not_a_coordinate_has_no_square() {
        assert_eq!(square_of(Point::new(f64::NAN, 34.0)), None);
        assert_eq!(square_of(Point::new(118.0, f64::INFINITY)), None);
        assert!(squares_covering(Point::new(f64::NAN, 0.0), Point::new(1.0, 1.0)).is_empty());
    }
}
