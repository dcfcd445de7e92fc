//! Keeping the daemon's resident memory small: memory freed after each frame goes back to the
//! system, and the model files compiled into the binary leave memory once their plans are built.

/// Make glibc's allocator keep less freed memory. Each frame's tensors are allocated and freed
/// by tract, on several threads; with glibc's defaults (an arena per thread, thresholds that
/// grow with the largest block freed) about 25 MB of freed memory stays in the demo's heaps.
/// One arena, blocks of 4 MiB and more mapped on their own, and the heap's free top given back
/// above 512 KiB: the demo's RSS after 60 s falls from about 54 to 46 MB for about 1 point more
/// CPU at 10 fps (README, "Memory"). Smaller mmap thresholds (128 KiB-1 MiB) save more memory but
/// fault the per-frame tensors in again on every frame: 35-40% CPU instead of 24%.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 10);
    }
}

/// How often the daemon's loop gives the heap's free pages back ([`Trim`]).
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Gives the heap's free pages back to the system now and then (glibc's `malloc_trim(0)`). The
/// trim threshold only returns free memory at the top of the heap; memory freed below a block
/// still in use (the plans' build at start-up, an upload's decoding, tract's per-frame tensors)
/// stays resident until trimmed: about 6 MB of the demo's 27 MB heap after 45 s (README,
/// "Memory"). One trim walks the free chunks of the one arena: 0.5-1.2 ms on this heap (x86,
/// both cores busy), once every [`TRIM_EVERY`].
pub struct Trim {
    every: std::time::Duration,
    last: std::time::Instant,
}

impl Trim {
    pub fn new(every: std::time::Duration, now: std::time::Instant) -> Trim {
        Trim { every, last: now }
    }

    /// Trims when `every` has passed since the last trim; true when it did.
    pub fn tick(&mut self, now: std::time::Instant) -> bool {
        if now.saturating_duration_since(self.last) < self.every {
            return false;
        }
        self.last = now;
        let t = std::time::Instant::now();
        trim_heap();
        log::trace!("heap trimmed in {} us", t.elapsed().as_micros());
        true
    }
}

/// Give every free page of the heap back to the system (a no-op off glibc).
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arena's lock itself; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Drop the resident pages of a model file compiled into the binary, once it has been parsed
/// into a plan (the plan holds its own copy of the weights). The bytes stay valid: they live in
/// the executable's read-only, file-backed mapping, so a later read (another plan built from
/// them) faults them in again from the file, unchanged.
pub fn release_static(bytes: &'static [u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let start = (bytes.as_ptr() as usize).div_ceil(page) * page;
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, which is never written: MADV_DONTNEED
            // on these clean, file-backed private pages only drops them from memory; their
            // contents are read back from the executable on the next access.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static DATA: [u8; 3 * 65536] = {
        let mut d = [0u8; 3 * 65536];
        let mut i = 0;
        while i < d.len() {
            d[i] = (i % 251) as u8;
            i += 1;
        }
        d
    };

    #[test]
    fn trims_once_per_interval() {
        let t0 = std::time::Instant::now();
        let mut trim = Trim::new(std::time::Duration::from_secs(10), t0);
        assert!(!trim.tick(t0 + std::time::Duration::from_secs(9)));
        assert!(trim.tick(t0 + std::time::Duration::from_secs(10)));
        assert!(!trim.tick(t0 + std::time::Duration::from_secs(19)));
        assert!(trim.tick(t0 + std::time::Duration::from_secs(20)));
        // A clock step backwards never trims early nor panics.
        assert!(!trim.tick(t0));
    }

    #[test]
    fn memory_stays_usable_after_a_trim() {
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 << 10]).collect();
        // Every other block freed: holes below blocks still in use, which the trim gives back.
        let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(2).collect();
        trim_heap();
        assert_eq!(kept.len(), 32);
        for (i, b) in kept.iter().enumerate() {
            assert_eq!(b.len(), 64 << 10);
            assert!(b.iter().all(|&x| x == (2 * i) as u8), "block {i} changed");
        }
        // And the heap still hands out memory.
        let again = vec![7u8; 1 << 20];
        assert!(again.iter().all(|&x| x == 7));
    }

    #[test]
    fn released_static_bytes_read_back_unchanged() {
        let before: u64 = DATA.iter().map(|&b| b as u64).sum();
        release_static(&DATA);
        let after: u64 = DATA.iter().map(|&b| b as u64).sum();
        assert_eq!(before, after);
        assert!(DATA.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }
}
