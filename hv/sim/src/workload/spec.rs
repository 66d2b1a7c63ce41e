//! What a workload does, fully determined by its fields: the write rate,
//! which pages it writes, what they hold, and the seed; plus the presets.

/// How a workload picks the pages it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSpread {
    /// Every page of the domain equally likely.
    Uniform,
    /// A hot set of pages takes most writes; the rest are uniform over all pages.
    HotSet {
        /// Share of the domain's pages in the hot set, per mille (at least
        /// one page when non-zero).
        hot_pages_permille: u32,
        /// Share of writes that go to the hot set, per mille.
        hot_writes_permille: u32,
    },
}

/// What a written page holds, as relative weights (per mille by convention;
/// they need not sum to 1000). All zero means every page is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentMix {
    /// Weight of zero pages (a page freed and cleared: the whole page).
    pub zero_permille: u32,
    /// Weight of text-like content (logs, source, configuration: compressible).
    pub text_permille: u32,
    /// Weight of random content (compressed or encrypted data: incompressible).
    pub random_permille: u32,
}

impl ContentMix {
    /// The mix the presets use: 10 % zero, 55 % text, 35 % random.
    pub fn typical() -> Self {
        ContentMix {
            zero_permille: 100,
            text_permille: 550,
            random_permille: 350,
        }
    }
}

/// What a workload does, fully determined by its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Page writes per second of simulated time, before throttling.
    pub pages_per_second: u64,
    /// Which pages get written.
    pub spread: WriteSpread,
    /// What the pages hold.
    pub mix: ContentMix,
    /// Seed of every random choice.
    pub seed: u64,
}

impl WorkloadSpec {
    /// No writes at all (memory still filled by [`Workload::fill_initial`]).
    pub fn idle(seed: u64) -> Self {
        Self::uniform(0, seed)
    }

    /// 5 000 pages/s, uniform.
    pub fn moderate(seed: u64) -> Self {
        Self::uniform(5_000, seed)
    }

    /// 20 000 pages/s; 2 % of the pages take 90 % of the writes.
    pub fn hot(seed: u64) -> Self {
        WorkloadSpec {
            pages_per_second: 20_000,
            spread: WriteSpread::HotSet {
                hot_pages_permille: 20,
                hot_writes_permille: 900,
            },
            mix: ContentMix::typical(),
            seed,
        }
    }

    /// 50 000 pages/s, uniform.
    pub fn heavy(seed: u64) -> Self {
        Self::uniform(50_000, seed)
    }

    /// 2 000 000 pages/s (16 GB/s of 8 KiB pages), uniform: dirties faster
    /// than any link can send.
    pub fn unconvergeable(seed: u64) -> Self {
        Self::uniform(2_000_000, seed)
    }

    /// The preset named `idle`, `moderate`, `hot`, `heavy` or `unconvergeable`.
    pub fn by_name(name: &str, seed: u64) -> Option<Self> {
        match name {
            "idle" => Some(Self::idle(seed)),
            "moderate" => Some(Self::moderate(seed)),
            "hot" => Some(Self::hot(seed)),
            "heavy" => Some(Self::heavy(seed)),
            "unconvergeable" => Some(Self::unconvergeable(seed)),
            _ => None,
        }
    }

    fn uniform(pages_per_second: u64, seed: u64) -> Self {
        WorkloadSpec {
            pages_per_second,
            spread: WriteSpread::Uniform,
            mix: ContentMix::typical(),
            seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_by_name() {
        let seed = 5;
        for (name, rate) in [
            ("idle", 0),
            ("moderate", 5_000),
            ("hot", 20_000),
            ("heavy", 50_000),
            ("unconvergeable", 2_000_000),
        ] {
            let spec = WorkloadSpec::by_name(name, seed).expect("a preset");
            assert_eq!(spec.pages_per_second, rate, "{name}");
            assert_eq!(spec.seed, seed);
        }
        assert_eq!(
            WorkloadSpec::hot(1).spread,
            WriteSpread::HotSet {
                hot_pages_permille: 20,
                hot_writes_permille: 900
            }
        );
        assert_eq!(WorkloadSpec::heavy(1).spread, WriteSpread::Uniform);
        assert_eq!(WorkloadSpec::by_name("busy", seed), None);
    }
}
