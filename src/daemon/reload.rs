//! SIGHUP: compare the new config with the running one and swap what changed. Everything new is
//! built before anything is swapped, so a bad file changes nothing; exclusive hardware (GPIO
//! pins) is released before it is claimed again, and re-claimed with the old settings when the
//! new ones fail.

use std::path::Path;
use std::sync::Arc;

use super::{load_classifier, Pipeline};
use crate::config::Config;
use crate::engine::{Analyzer, Engine};
use crate::error::Result;
use crate::indicator;
use crate::journal::Journal;
use crate::source;

/// What a reload replaced.
pub struct Changed {
    /// A new detector, classifier or crop settings: the upload workers need the new engine.
    pub engine: bool,
    /// A new frame source: the loop restarts the capture thread.
    pub source: bool,
}

/// Read `file` and apply it to `p`.
pub fn apply(file: &Path, p: &mut Pipeline) -> Result<Changed> {
    let new = Config::load(file)?;
    if new.source.kind == source::SourceKind::Replay {
        super::check_replay_paths(&new)?;
    }
    let old = &p.cfg;
    let analyzer = if new.classifier != old.classifier || new.detector != old.detector {
        let classifier = match new.classifier == old.classifier {
            true => p.analyzer.engine().classifier.clone(),
            false => load_classifier(&new.classifier.model)?,
        };
        Some(Analyzer::new(Arc::new(Engine {
            classifier,
            detector: new.detector.clone(),
        }))?)
    } else {
        None
    };
    let journal = match new.journal.dir != old.journal.dir {
        true => Some(Journal::open(&new.journal)?),
        false => None,
    };
    if new.indicator != old.indicator {
        p.indicator
            .reconfigure(&old.indicator, &new.indicator, indicator::open)?;
        log::info!("LEDs: {} backend", p.indicator.backend());
    }
    // Everything new was built: now swap.
    let changed = Changed {
        engine: analyzer.is_some(),
        source: new.source != old.source,
    };
    if let Some(a) = analyzer {
        p.analyzer = a;
    }
    match journal {
        Some(j) => {
            p.journal = j;
            log::info!("journal in {}", p.journal.dir().display());
        }
        None => p.journal.set_settings(&new.journal),
    }
    p.journal.set_delivery(new.mqtt.enabled);
    if new.log.level != old.log.level && std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(new.log.level.filter());
    }
    let without_preview = |w: &crate::web::WebSettings| crate::web::WebSettings {
        preview: false,
        ..w.clone()
    };
    if without_preview(&new.web) != without_preview(&old.web) {
        log::warn!("[web] changes take effect after a restart");
    }
    p.cfg = new;
    Ok(changed)
}
