//! Percentiles of round-trip times.

use std::time::Duration;

/// Round-trip time percentiles of one case, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Number of measured round trips.
    pub samples: usize,
    /// Fastest round trip.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Slowest round trip.
    pub max_ns: u64,
}

impl Latency {
    /// Percentiles of `samples` (nanoseconds, any order); `None` if empty.
    /// Sorts `samples` in place.
    pub fn from_samples(samples: &mut [u64]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        Some(Latency {
            samples: samples.len(),
            min_ns: samples[0],
            p50_ns: percentile(samples, 500),
            p99_ns: percentile(samples, 990),
            p999_ns: percentile(samples, 999),
            max_ns: samples[samples.len() - 1],
        })
    }

    /// The median as a duration.
    pub fn p50(&self) -> Duration {
        Duration::from_nanos(self.p50_ns)
    }
}

/// The nearest-rank percentile `per_mille`/1000 of sorted, non-empty `sorted`.
fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    // Nearest rank: the smallest value with at least p of the samples at or
    // below it.
    let rank = (sorted.len() * per_mille).div_ceil(1000).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut v).unwrap();
        assert_eq!(
            (l.min_ns, l.p50_ns, l.p99_ns, l.p999_ns, l.max_ns),
            (1, 500, 990, 999, 1000)
        );
        assert_eq!(l.samples, 1000);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let l = Latency::from_samples(&mut [7]).unwrap();
        assert_eq!((l.p50_ns, l.p999_ns), (7, 7));
        assert_eq!(Latency::from_samples(&mut []), None);
    }
}
