//! Upload classification off the async runtime: a bounded queue feeding a fixed number of
//! worker threads, each with its own face detector, all at a lower CPU priority (nice +10) than
//! the frame loop so that uploads never starve the camera. A full queue answers "busy" at once.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::oneshot;

use crate::engine::{Analysis, Analyzer, EngineSlot};
use crate::error::{Error, Result};
use crate::photo::{self, PhotoError, PhotoLimits};

/// Why an upload got no analysis.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Every worker is busy and the queue is full.
    #[error("busy: {0} uploads are being classified or waiting; try again in a moment")]
    Busy(usize),
    /// The photo was refused.
    #[error(transparent)]
    Photo(#[from] PhotoError),
    /// The pipeline failed (detector or classifier).
    #[error("{0}")]
    Failed(String),
}

struct Job {
    bytes: Bytes,
    reply: oneshot::Sender<std::result::Result<Analysis, JobError>>,
}

/// The worker pool.
pub struct Workers {
    tx: SyncSender<Job>,
    capacity: usize,
}

impl Workers {
    /// Start `threads` workers with room for `queued` waiting jobs.
    pub fn start(
        threads: usize,
        queued: usize,
        engine: Arc<EngineSlot>,
        limits: PhotoLimits,
    ) -> Result<Workers> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queued);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let (rx, engine) = (rx.clone(), engine.clone());
            std::thread::Builder::new()
                .name(format!("upload-{i}"))
                .spawn(move || work(rx, engine, limits))
                .map_err(|e| Error::io("starting upload workers", e))?;
        }
        Ok(Workers {
            tx,
            capacity: threads + queued,
        })
    }

    /// Decode and analyse a photo on a worker.
    pub async fn classify(&self, bytes: Bytes) -> std::result::Result<Analysis, JobError> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Job { bytes, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(JobError::Busy(self.capacity)),
            Err(TrySendError::Disconnected(_)) => {
                return Err(JobError::Failed("upload workers stopped".into()))
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(JobError::Failed("upload worker stopped".into())))
    }
}

/// Lower this thread's CPU priority (Linux nice values are per thread).
fn lower_priority() {
    // SAFETY: setpriority has no memory effects; `0` names the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if rc != 0 {
        log::debug!(
            "upload worker keeps normal priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn work(rx: Arc<Mutex<Receiver<Job>>>, engine: Arc<EngineSlot>, limits: PhotoLimits) {
    lower_priority();
    let mut analyzer: Option<(u64, Analyzer)> = None;
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(j) => j,
            Err(_) => return, // the server stopped
        };
        if job.reply.is_closed() {
            continue; // the client gave up (timeout) while the job waited
        }
        let (generation, engine) = engine.get();
        let result = photo::decode(&job.bytes, &limits)
            .map_err(JobError::from)
            .and_then(|gray| {
                if analyzer.as_ref().map(|a| a.0) != Some(generation) {
                    let a = Analyzer::new(engine).map_err(|e| JobError::Failed(e.to_string()))?;
                    analyzer = Some((generation, a));
                }
                let (_, a) = analyzer.as_mut().expect("built above");
                a.analyze_photo(&gray)
                    .map_err(|e| JobError::Failed(e.to_string()))
            });
        let _ = job.reply.send(result);
    }
}
