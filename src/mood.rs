//! Moods and per-face predictions.

use serde::{Deserialize, Serialize};

/// The two classes of the model, in its output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mood {
    NotHappy,
    Happy,
}

impl Mood {
    /// `happy` / `not_happy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mood::Happy => "happy",
            Mood::NotHappy => "not_happy",
        }
    }
}

impl std::fmt::Display for Mood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One classification: the mood, its probability (confidence) and P(happy).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    pub mood: Mood,
    pub confidence: f32,
    pub p_happy: f32,
}

impl Prediction {
    /// Decide by the larger probability (ties go to happy, as `p >= 0.5` in training).
    pub fn from_p_happy(p_happy: f32) -> Prediction {
        let p = if p_happy.is_finite() {
            p_happy.clamp(0.0, 1.0)
        } else {
            0.5
        };
        if p >= 0.5 {
            Prediction {
                mood: Mood::Happy,
                confidence: p,
                p_happy: p,
            }
        } else {
            Prediction {
                mood: Mood::NotHappy,
                confidence: 1.0 - p,
                p_happy: p,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_from_probability() {
        let p = Prediction::from_p_happy(0.8);
        assert_eq!((p.mood, p.confidence), (Mood::Happy, 0.8));
        let p = Prediction::from_p_happy(0.1);
        assert_eq!(p.mood, Mood::NotHappy);
        assert!((p.confidence - 0.9).abs() < 1e-6);
        assert_eq!(Prediction::from_p_happy(f32::NAN).confidence, 0.5);
    }

    #[test]
    fn serialises_snake_case() {
        assert_eq!(
            serde_json::to_string(&Mood::NotHappy).unwrap(),
            "\"not_happy\""
        );
    }
}
