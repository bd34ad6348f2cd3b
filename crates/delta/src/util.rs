//! Small I/O and threading helpers shared by the modules.

use std::io::{self, Read};

/// Reads until `buf` is full or the reader reports end of input; returns the
/// number of bytes read (less than `buf.len()` only at end of input).
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Errors from the thread helper.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ThreadError {
    /// A worker thread panicked (a bug; reported instead of propagated).
    #[error("worker thread panicked")]
    Panicked,
}

/// Runs `f` on every job, the first on the calling thread and the others on
/// scoped threads, and returns the results in job order.
pub(crate) fn run_parallel<T: Send, R: Send>(
    mut jobs: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Result<Vec<R>, ThreadError> {
    if jobs.len() <= 1 {
        return Ok(jobs.into_iter().map(&f).collect());
    }
    let rest = jobs.split_off(1);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = rest
            .into_iter()
            .map(|job| s.spawn(move || f(job)))
            .collect();
        let mut results = Vec::with_capacity(handles.len() + 1);
        results.extend(jobs.into_iter().map(f));
        for h in handles {
            results.push(h.join().map_err(|_| ThreadError::Panicked)?);
        }
        Ok(results)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_full_fills_across_short_reads() {
        let data: Vec<u8> = (0..100).collect();
        let mut r = Trickle(&data);
        let mut buf = [0u8; 40];
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 40);
        assert_eq!(buf[..], data[..40]);
        let mut rest = [0u8; 100];
        assert_eq!(read_full(&mut r, &mut rest).unwrap(), 60);
    }

    #[test]
    fn run_parallel_keeps_job_order() {
        let out = run_parallel((0..5).collect(), |i: u32| i * 10).unwrap();
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
    }

    #[test]
    fn run_parallel_reports_worker_panic() {
        let r = run_parallel(vec![0, 1], |i: u32| {
            assert!(i == 0, "boom");
            i
        });
        assert!(r.is_err());
    }
}
