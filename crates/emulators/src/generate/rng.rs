//! The generator's deterministic random numbers: SplitMix64, small, fast and fixed, so that a
//! seed gives the same data on every machine forever.

use super::day::Day;

pub struct Rng(u64);

impl Rng {
    /// One of several independent streams of the same seed.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi` (`lo` when the range is empty).
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let width = u128::from(hi.abs_diff(lo)) + 1;
        lo + ((u128::from(self.next()) * width) >> 64) as i64
    }

    /// A day in `earliest..=latest`, more likely near `latest`.
    pub fn recent(&mut self, earliest: Day, latest: Day) -> Day {
        let a = self.between(earliest.0, latest.0);
        let b = self.between(earliest.0, latest.0);
        Day(a.max(b).min(latest.0))
    }

    /// An item, more likely from the front of the list.
    pub fn common<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len()).min(self.below(items.len()));
        items.get(i).copied().unwrap_or_default()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A random (version 4 shaped) GUID in lowercase.
    pub fn guid(&mut self) -> String {
        let high = (self.next() & !0xF000) | 0x4000;
        let low = (self.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }
}
