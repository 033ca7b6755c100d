//! The allocator settings of a forward pass on the CPU.
//!
//! A transformer layer allocates and frees buffers of up to tens of megabytes for every layer
//! of every window (the MLP's `[1024, 3072]` activations are 12 MB). With glibc's defaults,
//! blocks that large are mapped and unmapped each time, and the page faults, zeroing and TLB
//! shootdowns took ~10% of a GPT-2-small extraction on 2 cores. [`keep_buffers_in_heap`] asks
//! glibc to serve them from the heap and not to hand freed memory back to the system between
//! layers; the peak resident memory is unchanged (measured: 0.96 GB either way). It applies to
//! the whole process (the host included) and is a no-op on other platforms.

/// Raises glibc's mmap threshold to its maximum (32 MiB) and its trim threshold to 512 MiB,
/// with 64 MiB of top padding. Called once when an extractor is opened.
pub fn keep_buffers_in_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
                libc::mallopt(libc::M_TOP_PAD, 64 << 20);
            }
        });
    }
}
