//! The result of one scenario against one server: what the report reads.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::procfs::Delta;

/// One scenario's figures for one server.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// The server's name in the report (`whassap`, `prosody`, `ejabberd`).
    pub label: String,
    /// The scenario (`login`, `idle`, `chat`, `pubsub-fanout`, `pep-fanout`).
    pub scenario: String,
    /// Sizes and settings the scenario ran with.
    pub params: BTreeMap<String, f64>,
    /// Figures by name (units in the name: `_ms`, `_kib`, `_per_s`).
    pub figures: BTreeMap<String, f64>,
    /// The generator used more than 90% of the machine: figures that
    /// depend on wall time are a floor, not the server's limit.
    pub generator_saturated: bool,
    /// Operations that failed (logins, deliveries…), with a reason.
    pub errors: Vec<String>,
}

impl Outcome {
    /// A new outcome for `label` and `scenario`.
    pub fn new(label: &str, scenario: &str) -> Self {
        Outcome {
            label: label.to_string(),
            scenario: scenario.to_string(),
            ..Default::default()
        }
    }

    /// Record a parameter.
    pub fn param(&mut self, name: &str, value: f64) -> &mut Self {
        self.params.insert(name.to_string(), value);
        self
    }

    /// Record a figure.
    pub fn figure(&mut self, name: &str, value: f64) -> &mut Self {
        self.figures.insert(name.to_string(), value);
        self
    }

    /// Record the server CPU per `ops` operations (scaled to `per`), the
    /// wall time and the generator's load of a measured phase.
    pub fn phase(&mut self, delta: &Delta, ops: f64, per: f64, name: &str) -> &mut Self {
        self.figure("wall_s", delta.wall_s);
        if let Some(cpu) = delta.server_cpu_ms {
            self.figure("server_cpu_ms", cpu);
            if ops > 0.0 {
                self.figure(name, cpu / ops * per);
            }
            if let Some(sys) = delta.server_sys_ms.filter(|_| cpu > 0.0) {
                self.figure("server_kernel_share", sys / cpu);
                // The same per-operation figure for the server's own code
                // (user space), without the kernel's TCP work.
                if ops > 0.0 {
                    let user_name = name.replacen("server_cpu", "server_user_cpu", 1);
                    self.figure(&user_name, (cpu - sys) / ops * per);
                }
            }
        }
        if let Some(rss) = delta.server_rss_end_kib {
            self.figure("server_rss_kib", rss);
        }
        self.figure("generator_load", delta.generator_load);
        self.generator_saturated |= delta.generator_load > 0.9;
        self
    }

    /// Write as pretty JSON.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    /// Read back.
    pub fn read(path: &Path) -> anyhow::Result<Outcome> {
        Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
    }

    /// A one-line summary for the terminal.
    pub fn summary(&self) -> String {
        let figures: Vec<String> = self
            .figures
            .iter()
            .map(|(k, v)| format!("{k}={}", short(*v)))
            .collect();
        let mut s = format!("{} {}: {}", self.label, self.scenario, figures.join(" "));
        if self.generator_saturated {
            s.push_str(" [generator saturated]");
        }
        if !self.errors.is_empty() {
            s.push_str(&format!(" [{} errors]", self.errors.len()));
        }
        s
    }
}

/// A number with sensible precision.
pub fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
