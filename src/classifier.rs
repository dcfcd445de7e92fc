//! The mood classifier: the project's MobileNetV2 (ONNX, fp32 or int8) run by tract.
//! Checks at load time that the model takes `[1,1,96,96]` f32 and gives `[1,2]` probabilities
//! in the order [not_happy, happy]. A camera frame's face is one run; a photo's face is the
//! views the model's metadata names ([`PHOTO_VIEWS_KEY`]): with 2, the face and its mirror
//! image, probabilities averaged (test-time flip averaging, adopted by the model factory when
//! it pays; a frame's faces need not pay for it, the tracker votes over frames).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::GrayImage;
use tract_onnx::prelude::*;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mood::Prediction;
use crate::preprocess::{self, SIZE};
use crate::settings::paths::{read_regular, MAX_MODEL_BYTES};

static BUILTIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/classifier.onnx"));

/// The file compiled in as the builtin model: `moodkiosk-fp32.onnx` (through tract the int8
/// model is slower on x86 and executes about twice the instructions on ARM; build.rs).
pub const BUILTIN_MODEL: &str = env!("MOODKIOSK_BUILTIN_MODEL");

/// ONNX `metadata_props` key (written by `training/run.sh export`): how many views of a photo's
/// face are averaged, 1 or 2 (the face and its mirror image); absent means 1.
pub const PHOTO_VIEWS_KEY: &str = "moodkiosk.photo_views";

/// A classifier model: the one compiled into the binary (`"builtin"`), or a file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "PathBuf", into = "PathBuf")]
pub enum ModelRef {
    Builtin,
    File(PathBuf),
}

impl From<PathBuf> for ModelRef {
    fn from(p: PathBuf) -> ModelRef {
        if p.as_os_str().is_empty() || p == Path::new("builtin") {
            ModelRef::Builtin
        } else {
            ModelRef::File(p)
        }
    }
}

impl From<ModelRef> for PathBuf {
    fn from(m: ModelRef) -> PathBuf {
        match m {
            ModelRef::Builtin => PathBuf::from("builtin"),
            ModelRef::File(p) => p,
        }
    }
}

/// `[classifier]` (documented in config/moodkiosk.toml).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSettings {
    pub model: ModelRef,
}

/// A loaded, optimised classifier; clones share the plan.
#[derive(Clone)]
pub struct Classifier {
    plan: Arc<TypedRunnableModel>,
    name: PathBuf,
    photo_views: usize,
}

impl Classifier {
    /// Load the builtin model or a file.
    pub fn load(model: &ModelRef) -> Result<Classifier> {
        match model {
            ModelRef::Builtin => {
                if BUILTIN.is_empty() {
                    return Err(Error::model(
                        "builtin",
                        format!("this binary was built without models/{BUILTIN_MODEL}; set classifier.model to a file"),
                    ));
                }
                let c = Self::from_reader(&mut std::io::Cursor::new(BUILTIN), Path::new("builtin"));
                crate::memory::release_static(BUILTIN);
                c
            }
            ModelRef::File(path) => {
                let bytes = read_regular(path, MAX_MODEL_BYTES)
                    .map_err(|e| Error::model_read(path, "classifier.model", e))?;
                Self::from_reader(&mut std::io::Cursor::new(bytes), path)
            }
        }
    }

    fn from_reader(r: &mut dyn std::io::Read, name: &Path) -> Result<Classifier> {
        let fail =
            |stage: &str, e: TractError| Error::model(name, format!("{stage}: {}", one_line(&e)));
        let model = tract_onnx::onnx()
            .model_for_read(r)
            .map_err(|e| fail("not a loadable ONNX model", e))?;
        let photo_views = photo_views(&model.properties).map_err(|msg| Error::model(name, msg))?;
        let model = model
            .with_input_fact(0, f32::fact([1, 1, SIZE, SIZE]).into())
            .map_err(|e| fail("input is not [1,1,96,96] f32", e))?;
        let typed = model
            .into_typed()
            .map_err(|e| fail("input must be [1,1,96,96] f32", e))?;
        let out = typed.output_fact(0).map_err(|e| fail("no output", e))?;
        let shape = out.shape.as_concrete().map(|s| s.to_vec());
        if shape.as_deref() != Some(&[1, 2]) || out.datum_type != f32::datum_type() {
            return Err(Error::model(
                name,
                format!("output must be [1,2] f32 probabilities, found {out:?}"),
            ));
        }
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| fail("cannot optimise", e))?;
        Ok(Classifier {
            plan,
            name: name.to_path_buf(),
            photo_views,
        })
    }

    /// The optimised plan (for the op-level profile).
    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
    }

    /// The model's name (file path or `builtin`).
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Classify a preprocessed input (`SIZE*SIZE` values in [0, 1]).
    pub fn classify_input(&self, input: &[f32]) -> Result<Prediction> {
        let t = Tensor::from_shape(&[1, 1, SIZE, SIZE], input)
            .map_err(|e| Error::model(&self.name, e))?;
        let out = self
            .plan
            .run(tvec!(t.into()))
            .map_err(|e| Error::model(&self.name, e))?;
        let p = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::model(&self.name, e))?;
        let p_happy = p
            .iter()
            .nth(1)
            .copied()
            .ok_or_else(|| Error::model(&self.name, "output has fewer than 2 values"))?;
        Ok(Prediction::from_p_happy(p_happy))
    }

    /// How many views of a photo's face [`Self::classify_photo`] averages (1 or 2).
    pub fn photo_views(&self) -> usize {
        self.photo_views
    }

    /// Classify a camera frame's face of any size (resized by the shared spec): one run.
    pub fn classify(&self, face: &GrayImage) -> Result<Prediction> {
        self.classify_input(&preprocess::to_input(face))
    }

    /// Classify a photo's face: the model's photo views, P(happy) averaged.
    pub fn classify_photo(&self, face: &GrayImage) -> Result<Prediction> {
        let input = preprocess::to_input(face);
        let p = self.classify_input(&input)?;
        if self.photo_views == 1 {
            return Ok(p);
        }
        let mirrored = preprocess::mirrored(&input);
        let q = self.classify_input(&mirrored)?;
        Ok(Prediction::from_p_happy((p.p_happy + q.p_happy) / 2.0))
    }
}

/// [`PHOTO_VIEWS_KEY`] from a loaded model's properties: 1 when absent; 1 or 2 when given.
fn photo_views(
    props: &std::collections::HashMap<String, Arc<Tensor>>,
) -> std::result::Result<usize, String> {
    let key = format!("onnx.metadata_props.{PHOTO_VIEWS_KEY}");
    let Some(v) = props.get(&key) else {
        return Ok(1);
    };
    let plain = v
        .try_as_plain_ram()
        .map_err(|e| format!("metadata {PHOTO_VIEWS_KEY}: {e}"))?;
    let text = plain
        .to_scalar::<String>()
        .map_err(|_| format!("metadata {PHOTO_VIEWS_KEY} is not text"))?;
    match text.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        other => Err(format!(
            "metadata {PHOTO_VIEWS_KEY} must be 1 or 2 (views of a photo's face), found {other:?}"
        )),
    }
}

fn one_line(e: &TractError) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Option<&str>) -> std::collections::HashMap<String, Arc<Tensor>> {
        v.map(|v| {
            (
                format!("onnx.metadata_props.{PHOTO_VIEWS_KEY}"),
                Arc::new(tensor0(v.to_string())),
            )
        })
        .into_iter()
        .collect()
    }

    #[test]
    fn photo_views_default_to_one_and_refuse_other_counts() {
        assert_eq!(photo_views(&props(None)), Ok(1));
        assert_eq!(photo_views(&props(Some("1"))), Ok(1));
        assert_eq!(photo_views(&props(Some("2"))), Ok(2));
        for bad in ["0", "3", "two", ""] {
            let e = photo_views(&props(Some(bad))).unwrap_err();
            assert!(e.contains(PHOTO_VIEWS_KEY) && e.contains("1 or 2"), "{e}");
        }
    }
}
