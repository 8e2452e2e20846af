//! Cell sequence numbers: west → east, then north → south, within a community.

/// What the numbering of a cell depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellKey {
    /// Lattice row of the cell's square (grows northwards); clipped parts share their square's row.
    pub row: i64,
    /// Centroid longitude.
    pub x: f64,
    /// Centroid latitude (breaks ties between parts of one square, north first).
    pub y: f64,
}

/// Indices of `keys` in numbering order: rows from north to south, west to east within a row.
pub fn reading_order(keys: &[CellKey]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (keys[i], keys[j]);
        b.row.cmp(&a.row).then(a.x.total_cmp(&b.x)).then(b.y.total_cmp(&a.y)).then(i.cmp(&j))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn west_to_east_then_north_to_south() {
        let key = |row, x, y| CellKey { row, x, y };
        let keys = [
            key(3, 118.2, 34.30), // south row, west
            key(4, 118.3, 34.31), // north row, east
            key(4, 118.1, 34.31), // north row, west
            key(3, 118.4, 34.30), // south row, east
        ];
        assert_eq!(reading_order(&keys), vec![2, 1, 0, 3]);
    }

    #[test]
    fn clipped_parts_keep_their_square_row() {
        // Two parts of one square: same row even though the first centroid sits further south
        // than a western neighbour's; west to east decides, then north first.
        let keys = [
            CellKey { row: 7, x: 118.305, y: 34.301 },
            CellKey { row: 7, x: 118.300, y: 34.305 },
            CellKey { row: 7, x: 118.305, y: 34.303 },
        ];
        assert_eq!(reading_order(&keys), vec![1, 2, 0]);
    }
}
