//! The mood classifier: the project's MobileNetV2 (ONNX, fp32 or int8) run by tract.
//! Checks at load time that the model takes `[1,1,96,96]` f32 and gives `[1,2]` probabilities
//! in the order [not_happy, happy].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::GrayImage;
use tract_onnx::prelude::*;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mood::Prediction;
use crate::preprocess::{self, SIZE};

static BUILTIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/classifier.onnx"));

/// The file compiled in as the builtin model: `moodkiosk-fp32.onnx` (through tract the int8
/// model is slower on x86 and executes 11x the instructions on ARM; build.rs).
pub const BUILTIN_MODEL: &str = env!("MOODKIOSK_BUILTIN_MODEL");

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
                let bytes = std::fs::read(path)
                    .map_err(|e| Error::model(path, format!("cannot read: {e}")))?;
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

    /// Classify a face image of any size (it is resized by the shared spec).
    pub fn classify(&self, face: &GrayImage) -> Result<Prediction> {
        self.classify_input(&preprocess::to_input(face))
    }
}

fn one_line(e: &TractError) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
