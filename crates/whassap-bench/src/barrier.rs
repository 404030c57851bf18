//! A barrier between generator processes, in a directory: one process may
//! hold only so many sockets (its file limit), so tens of thousands of
//! sessions take several processes, which must hold them at the same time
//! to measure what they cost together.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Processes that meet in `dir`.
pub struct Barrier {
    dir: PathBuf,
    parties: usize,
    /// This party's name: the process id, and a number for each barrier
    /// the process makes (two parties may share a process in tests).
    me: String,
}

/// How often the directory is looked at while waiting.
const POLL: Duration = Duration::from_millis(100);

impl Barrier {
    /// `parties` processes meet in `dir` (created if missing).
    pub fn new(dir: PathBuf, parties: usize) -> Self {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        Barrier {
            dir,
            parties: parties.max(1),
            me: format!(
                "{}-{}",
                std::process::id(),
                MADE.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// Arrive at `stage` with a number of this process's (e.g. its
    /// sessions), and wait (at most `timeout`) until every party has: the
    /// numbers of all parties.
    pub async fn meet(
        &self,
        stage: &str,
        value: f64,
        timeout: Duration,
    ) -> Result<Vec<f64>, String> {
        let fail =
            |what: &str, e: std::io::Error| format!("barrier {}: {what}: {e}", self.dir.display());
        std::fs::create_dir_all(&self.dir).map_err(|e| fail("create", e))?;
        let me = format!("{stage}.{}", self.me);
        // Written whole, then renamed: a reader never sees half a number.
        let tmp = self.dir.join(format!(".{me}"));
        std::fs::write(&tmp, value.to_string()).map_err(|e| fail("write", e))?;
        std::fs::rename(&tmp, self.dir.join(&me)).map_err(|e| fail("rename", e))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut values = Vec::new();
            for entry in std::fs::read_dir(&self.dir).map_err(|e| fail("read", e))? {
                let entry = entry.map_err(|e| fail("read", e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.strip_prefix(stage).is_some_and(|r| r.starts_with('.')) {
                    let text =
                        std::fs::read_to_string(entry.path()).map_err(|e| fail("read", e))?;
                    values.push(text.trim().parse().unwrap_or(0.0));
                }
            }
            if values.len() >= self.parties {
                return Ok(values);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "barrier {} stage {stage}: {} of {} processes after {timeout:?}",
                    self.dir.display(),
                    values.len(),
                    self.parties
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parties_see_each_others_numbers_and_a_missing_one_times_out() {
        let dir = std::env::temp_dir().join(format!("whassap-barrier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let b = Barrier::new(dir.clone(), 2);
        // The other party, as another process would: its file appears later.
        let other = dir.join("held.999999999");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::fs::write(other, "7").unwrap();
        });
        let got = b.meet("held", 5.0, Duration::from_secs(10)).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.iter().sum::<f64>(), 12.0);
        let err = b
            .meet("left", 1.0, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(err.contains("1 of 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
