//! `/metrics`: the telemetry's OpenMetrics text, or the classic Prometheus text format.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::routes::AppState;

/// `GET /metrics`: OpenMetrics text when the client asks for it (Prometheus does), else the
/// classic Prometheus text format (the same lines without the OpenMetrics `# EOF` marker).
pub(super) async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let text = s.telemetry.metrics_text();
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        let plain = prometheus_text(&text);
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            plain,
        )
            .into_response()
    }
}

/// OpenMetrics to the classic Prometheus text format: counters are announced by their sample
/// name (`x_total`), and the `# EOF` marker goes.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines().filter(|l| *l != "# EOF") {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out += renamed.as_deref().unwrap_or(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counters_by_their_samples() {
        let om = "# HELP a_frames Frames.\n# TYPE a_frames counter\na_frames_total 3\n\
                  # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_frames_total Frames.\n# TYPE a_frames_total counter\na_frames_total 3\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
    }
}
