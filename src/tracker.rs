//! Steady output: faces are tracked across frames by box overlap (IoU); a visitor's mood is
//! decided once, when `agree` of the last `window` confident frames say the same mood. The
//! displayed mood (LEDs) follows the largest tracked face and changes only on such agreement
//! (hysteresis), and is held for `hold` after the last visitor leaves, so the LEDs do not flicker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::check_range;
use crate::face::FaceBox;
use crate::mood::{Mood, Prediction};
use crate::settings::Invalid;

/// `[steady]`: temporal smoothing of per-frame moods (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SteadySettings {
    pub iou: f32,
    pub window: usize,
    pub agree: usize,
    pub min_confidence: f32,
    pub max_missed: u32,
    pub hold_ms: u64,
}

impl SteadySettings {
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let s = self;
        check_range!(s.iou, 0.05, 0.95);
        check_range!(s.window, 1, 100);
        check_range!(s.agree, 1, s.window);
        check_range!(s.min_confidence, 0.5, 1.0);
        check_range!(s.max_missed, 0, 1000);
        check_range!(s.hold_ms, 0, 600_000);
        Ok(())
    }

    /// How long the mood LED stays on after the last visitor left.
    pub fn hold(&self) -> Duration {
        Duration::from_millis(self.hold_ms)
    }
}

/// A visitor's decided mood: one journal record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub track: u64,
    pub mood: Mood,
    /// Mean confidence of the agreeing frames.
    pub confidence: f32,
    /// Frames in which the visitor was classified so far.
    pub frames: u32,
    /// Mean face size (larger box side, pixels).
    pub face_px: u32,
}

#[derive(Debug)]
struct Track {
    id: u64,
    bbox: FaceBox,
    votes: VecDeque<Prediction>,
    frames: u32,
    size_sum: f64,
    missed: u32,
    decided: Option<Mood>,
    shown: Option<Mood>,
}

impl Track {
    /// The mood that `agree` of the last `window` confident votes share, with its mean confidence.
    fn agreed(&self, cfg: &SteadySettings) -> Option<(Mood, f32)> {
        for mood in [Mood::Happy, Mood::NotHappy] {
            let hits: Vec<f32> = self
                .votes
                .iter()
                .filter(|p| p.mood == mood && p.confidence >= cfg.min_confidence)
                .map(|p| p.confidence)
                .collect();
            if hits.len() >= cfg.agree {
                return Some((mood, hits.iter().sum::<f32>() / hits.len() as f32));
            }
        }
        None
    }
}

/// What the tracker reports after each frame.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Update {
    /// Visitors decided in this frame.
    pub decisions: Vec<Decision>,
    /// Visitors that left without a decision.
    pub undecided_left: u32,
}

/// Tracks faces and decides moods.
#[derive(Debug)]
pub struct Tracker {
    cfg: SteadySettings,
    tracks: Vec<Track>,
    next_id: u64,
    shown: Option<Mood>,
    last_seen: Option<Instant>,
}

impl Tracker {
    pub fn new(cfg: SteadySettings) -> Tracker {
        Tracker {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
            shown: None,
            last_seen: None,
        }
    }

    /// Replace the settings (config reload); tracks are kept.
    pub fn set_config(&mut self, cfg: SteadySettings) {
        self.cfg = cfg;
    }

    /// Feed one frame's classified faces.
    pub fn update(&mut self, faces: &[(FaceBox, Prediction)], now: Instant) -> Update {
        let mut upd = Update::default();
        let mut matched = vec![false; self.tracks.len()];
        for (bbox, pred) in faces {
            let i = self.match_or_start(bbox, &mut matched);
            if let Some(d) = self.vote(i, bbox, pred) {
                upd.decisions.push(d);
            }
        }
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if !matched[i] {
                t.missed += 1;
            }
        }
        let max_missed = self.cfg.max_missed;
        self.tracks.retain(|t| {
            let keep = t.missed <= max_missed;
            if !keep && t.decided.is_none() {
                upd.undecided_left += 1;
            }
            keep
        });
        self.update_shown(now);
        upd
    }

    /// The unmatched track this box overlaps most (by at least `iou`), or a new track.
    fn match_or_start(&mut self, bbox: &FaceBox, matched: &mut Vec<bool>) -> usize {
        let best = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(i, _)| !matched[*i])
            .map(|(i, t)| (i, t.bbox.iou(bbox)))
            .filter(|(_, iou)| *iou >= self.cfg.iou)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let i = match best {
            Some((i, _)) => i,
            None => {
                self.tracks.push(Track {
                    id: self.next_id,
                    bbox: *bbox,
                    votes: VecDeque::new(),
                    frames: 0,
                    size_sum: 0.0,
                    missed: 0,
                    decided: None,
                    shown: None,
                });
                self.next_id += 1;
                matched.push(false);
                self.tracks.len() - 1
            }
        };
        matched[i] = true;
        i
    }

    /// Add one frame's vote to track `i`; the decision when it first agrees.
    fn vote(&mut self, i: usize, bbox: &FaceBox, pred: &Prediction) -> Option<Decision> {
        let t = &mut self.tracks[i];
        t.bbox = *bbox;
        t.missed = 0;
        t.frames += 1;
        t.size_sum += bbox.size() as f64;
        t.votes.push_back(*pred);
        while t.votes.len() > self.cfg.window {
            t.votes.pop_front();
        }
        let (mood, confidence) = t.agreed(&self.cfg)?;
        t.shown = Some(mood);
        if t.decided.is_some() {
            return None;
        }
        t.decided = Some(mood);
        Some(Decision {
            track: t.id,
            mood,
            confidence,
            frames: t.frames,
            face_px: (t.size_sum / t.frames as f64).round() as u32,
        })
    }

    /// The displayed mood: the largest present track that has a steady mood, held for `hold`.
    fn update_shown(&mut self, now: Instant) {
        let present = self
            .tracks
            .iter()
            .filter(|t| t.missed == 0 && t.shown.is_some())
            .max_by(|a, b| a.bbox.size().total_cmp(&b.bbox.size()));
        if let Some(t) = present {
            self.shown = t.shown;
            self.last_seen = Some(now);
        } else if let Some(seen) = self.last_seen {
            if now.duration_since(seen) >= self.cfg.hold() {
                self.shown = None;
                self.last_seen = None;
            }
        }
    }

    /// The mood the LEDs should show now.
    pub fn shown(&self) -> Option<Mood> {
        self.shown
    }

    /// Number of faces being tracked.
    pub fn active(&self) -> usize {
        self.tracks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> SteadySettings {
        SteadySettings {
            iou: 0.3,
            window: 5,
            agree: 3,
            min_confidence: 0.6,
            max_missed: 2,
            hold_ms: 100,
        }
    }

    fn face(x: f32) -> FaceBox {
        FaceBox {
            x,
            y: 10.0,
            w: 50.0,
            h: 50.0,
            score: 1.0,
        }
    }

    #[test]
    fn one_decision_per_visitor() {
        let mut t = Tracker::new(cfg());
        let now = Instant::now();
        let mut decisions = Vec::new();
        for i in 0..20 {
            let u = t.update(&[(face(i as f32), Prediction::from_p_happy(0.9))], now);
            decisions.extend(u.decisions);
        }
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].mood, Mood::Happy);
        assert_eq!(decisions[0].frames, 3);
        assert_eq!(decisions[0].face_px, 50);
        assert_eq!(t.shown(), Some(Mood::Happy));
    }

    #[test]
    fn low_confidence_never_decides() {
        let mut t = Tracker::new(cfg());
        let now = Instant::now();
        for _ in 0..20 {
            assert!(t
                .update(&[(face(0.0), Prediction::from_p_happy(0.55))], now)
                .decisions
                .is_empty());
        }
        assert_eq!(t.shown(), None);
    }

    #[test]
    fn alternating_votes_do_not_flicker() {
        let mut t = Tracker::new(cfg());
        let now = Instant::now();
        for i in 0..3 {
            t.update(&[(face(0.0), Prediction::from_p_happy(0.9))], now);
            assert_eq!(t.shown().is_some(), i == 2);
        }
        // One not-happy frame in between does not flip the display.
        t.update(&[(face(0.0), Prediction::from_p_happy(0.1))], now);
        assert_eq!(t.shown(), Some(Mood::Happy));
    }

    #[test]
    fn visitor_leaves_then_new_visitor_gets_new_decision() {
        let mut t = Tracker::new(cfg());
        let t0 = Instant::now();
        for _ in 0..3 {
            t.update(&[(face(0.0), Prediction::from_p_happy(0.9))], t0);
        }
        for _ in 0..3 {
            t.update(&[], t0);
        }
        assert_eq!(t.active(), 0);
        assert_eq!(t.shown(), Some(Mood::Happy), "held");
        t.update(&[], t0 + Duration::from_millis(150));
        assert_eq!(t.shown(), None, "hold expired");
        let mut n = 0;
        for _ in 0..3 {
            n += t
                .update(&[(face(0.0), Prediction::from_p_happy(0.05))], t0)
                .decisions
                .len();
        }
        assert_eq!(n, 1);
        assert_eq!(t.shown(), Some(Mood::NotHappy));
    }

    #[test]
    fn two_faces_tracked_separately() {
        let mut t = Tracker::new(cfg());
        let now = Instant::now();
        let mut d = Vec::new();
        for _ in 0..3 {
            let u = t.update(
                &[
                    (face(0.0), Prediction::from_p_happy(0.9)),
                    (face(200.0), Prediction::from_p_happy(0.1)),
                ],
                now,
            );
            d.extend(u.decisions);
        }
        assert_eq!(d.len(), 2);
        assert_ne!(d[0].mood, d[1].mood);
    }

    #[test]
    fn undecided_visitor_counted_when_leaving() {
        let mut t = Tracker::new(cfg());
        let now = Instant::now();
        t.update(&[(face(0.0), Prediction::from_p_happy(0.9))], now);
        let mut left = 0;
        for _ in 0..3 {
            left += t.update(&[], now).undecided_left;
        }
        assert_eq!(left, 1);
    }
}
