//! The motion gate: a frame that shows the same scene as the last analysed one (within camera
//! noise) gets that frame's analysis again instead of running the detector and classifier, as
//! edge-vision daemons gate object detection on motion. A kiosk's camera looks at an empty hall
//! most of the day; so does a replay holding one picture.
//!
//! The comparison runs on an 80x60 area-averaged thumbnail (each cell the mean of 8x8 pixels of
//! a 640x480 frame, which averages sensor noise away): the scene changed when at least
//! `MIN_CELLS` cells differ by more than `CELL_DELTA` gray levels from the reference, the
//! thumbnail of the last analysed frame (so that slow drift adds up until it counts). A face of
//! 40 px covers about 25 cells. At least every `MAX_REUSE` frames the frame is analysed anyway.

use image::GrayImage;

use crate::frame::area_resize;

const THUMB_W: usize = 80;
const THUMB_H: usize = 60;
/// Gray levels (0-255) a cell must change by.
const CELL_DELTA: f32 = 8.0;
/// Changed cells that make a change of scene.
const MIN_CELLS: usize = 3;
/// Frames in a row that may reuse one analysis (2 s at 10 fps).
pub const MAX_REUSE: u32 = 20;

/// Tells whether a frame needs analysing.
#[derive(Debug, Default)]
pub struct MotionGate {
    reference: Option<(u32, u32, Vec<f32>)>,
    reused: u32,
}

impl MotionGate {
    pub fn new() -> MotionGate {
        MotionGate::default()
    }

    /// Whether `frame` differs from the last analysed frame; when it does (or `MAX_REUSE`
    /// frames were reused), it becomes the new reference.
    pub fn changed(&mut self, frame: &GrayImage) -> bool {
        let thumb = area_resize(frame, THUMB_W, THUMB_H);
        let dims = frame.dimensions();
        let same = match &self.reference {
            Some((w, h, r)) if (*w, *h) == dims => {
                let moved = r
                    .iter()
                    .zip(&thumb)
                    .filter(|(a, b)| (*a - *b).abs() > CELL_DELTA)
                    .count();
                moved < MIN_CELLS
            }
            _ => false,
        };
        if same && self.reused < MAX_REUSE {
            self.reused += 1;
            return false;
        }
        self.reference = Some((dims.0, dims.1, thumb));
        self.reused = 0;
        true
    }

    /// Forget the reference (after a camera change or a reload): the next frame is analysed.
    pub fn reset(&mut self) {
        self.reference = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn noisy(seed: u64, level: u8) -> GrayImage {
        let mut s = seed | 1;
        GrayImage::from_fn(640, 480, |_, _| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            Luma([level.saturating_add((s % 13) as u8)]) // +-6 levels of sensor noise
        })
    }

    #[test]
    fn noise_alone_is_no_change_but_a_small_face_is() {
        let mut g = MotionGate::new();
        assert!(g.changed(&noisy(1, 100)), "the first frame is analysed");
        for k in 2..10 {
            assert!(!g.changed(&noisy(k, 100)), "noise is not motion");
        }
        // A 40x40 dark patch (a distant face) appears.
        let mut f = noisy(11, 100);
        for y in 200..240 {
            for x in 300..340 {
                f.put_pixel(x, y, Luma([30]));
            }
        }
        assert!(g.changed(&f));
        assert!(!g.changed(&f), "the same scene again");
    }

    #[test]
    fn reuse_is_bounded_and_reset_forces_analysis() {
        let mut g = MotionGate::new();
        let f = noisy(3, 90);
        assert!(g.changed(&f));
        // The same scene: analysed again once after every MAX_REUSE reuses.
        let analysed: Vec<u32> = (1..=3 * MAX_REUSE).filter(|_| g.changed(&f)).collect();
        assert_eq!(analysed, vec![MAX_REUSE + 1, 2 * MAX_REUSE + 2]);
        g.reset();
        assert!(g.changed(&f));
        // A new frame size is a new scene.
        assert!(g.changed(&GrayImage::from_pixel(320, 240, Luma([90]))));
    }
}
