//! Reference numbers for accepted reports: unique per (node, local millisecond, counter).

use std::sync::Mutex;

use gridd_core::ids::Reference;
use gridd_core::time::Timestamp;

/// Hands out references; one per intake process (node).
#[derive(Debug)]
pub struct ReferenceGenerator {
    node: u8,
    offset: chrono::FixedOffset,
    last: Mutex<(i64, u8)>,
}

impl ReferenceGenerator {
    /// A generator for `node` (0..=31) in the city's UTC offset.
    pub fn new(node: u8, offset: chrono::FixedOffset) -> Self {
        Self { node, offset, last: Mutex::new((i64::MIN, 0)) }
    }

    /// The next reference at `now`. Within one millisecond up to 256 are distinct; beyond that
    /// the next millisecond is borrowed, so references stay unique and increasing.
    pub fn next(&self, now: Timestamp) -> Reference {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (ms, counter) = match *last {
            (prev, c) if now.millis() <= prev && c < u8::MAX => (prev, c + 1),
            (prev, _) if now.millis() <= prev => (prev + 1, 0),
            _ => (now.millis(), 0),
        };
        *last = (ms, counter);
        Reference::encode(Timestamp::from_millis(ms).local(self.offset), self.node, counter)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn references_are_unique_under_bursts() {
        let generator = ReferenceGenerator::new(3, chrono::FixedOffset::east_opt(8 * 3600).expect("offset"));
        let now = Timestamp::from_millis(1_795_000_000_000);
        let refs: HashSet<Reference> = (0..2000).map(|_| generator.next(now)).collect();
        assert_eq!(refs.len(), 2000);
    }
}
