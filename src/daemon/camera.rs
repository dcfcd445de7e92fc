//! The camera's up/down state machine: open when due, read frames while up, close and retry
//! every `retry_interval_ms` when lost, and report each change once.

use std::time::{Duration, Instant};

use super::events::Events;
use crate::frame::Frame;
use crate::source::FrameSource;

/// What one poll of the camera gave.
pub enum Poll {
    /// A frame to analyse.
    Frame(Frame),
    /// No frame: the camera is down and the next retry is not due yet (or just failed).
    Waiting,
    /// A non-looping replay ended.
    Finished,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Down(String),
    Up,
}

/// The camera state and its retry schedule.
pub struct Camera {
    state: State,
    next_retry: Instant,
    retry: Duration,
    ever_up: bool,
}

impl Camera {
    pub fn new(retry: Duration) -> Camera {
        Camera {
            state: State::Down("not opened yet".into()),
            next_retry: Instant::now(),
            retry,
            ever_up: false,
        }
    }

    /// Whether frames are flowing.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Reopen at once (the source was replaced by a reload).
    pub fn reopen(&mut self, retry: Duration) {
        self.retry = retry;
        self.state = State::Down("reopening after reload".into());
        self.next_retry = Instant::now();
    }

    /// Open the source when due, or read its next frame.
    pub fn poll(&mut self, source: &mut dyn FrameSource, ev: &mut Events) -> Poll {
        if let State::Down(_) = self.state {
            if Instant::now() < self.next_retry {
                return Poll::Waiting;
            }
            match source.open() {
                Ok(()) => {
                    ev.camera_up(source.describe(), self.ever_up);
                    self.ever_up = true;
                    self.state = State::Up;
                }
                Err(e) => {
                    self.down(e.to_string(), ev);
                    return Poll::Waiting;
                }
            }
        }
        match source.next_frame() {
            Ok(Some(frame)) => Poll::Frame(frame),
            Ok(None) => Poll::Finished,
            Err(e) => {
                source.close();
                self.down(e.to_string(), ev);
                Poll::Waiting
            }
        }
    }

    /// Down for `why`; logged and reported only when the reason changed.
    fn down(&mut self, why: String, ev: &mut Events) {
        if self.state != State::Down(why.clone()) {
            ev.camera_down(&why, self.state == State::Up, self.retry.as_millis());
        }
        self.state = State::Down(why);
        self.next_retry = Instant::now() + self.retry;
    }
}
