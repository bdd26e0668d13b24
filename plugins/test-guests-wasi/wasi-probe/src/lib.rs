//! `wasi-probe`: a plugin built for `wasm32-wasip2` that reaches for what WASI offers, for the
//! host's tests of grants. A record whose value names a probe is answered with what the probe
//! got; any other record is passed through after a line on stderr.
//!
//! - `clock`: the wall clock, in milliseconds since the Unix epoch;
//! - `file`: reading `/etc/hostname` (`error: …` or `read N bytes`);
//! - `env`: how many environment variables it sees;
//! - `sleep`: sleeping for an hour;
//! - `panic`: panicking (its message goes to stderr).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_plugin_sdk::{Config, Output, Record, Transform};

/// The probe.
pub struct Probe;

impl Transform for Probe {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Probe)
    }

    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
        let answer = match record.value_str().unwrap_or_default() {
            "clock" => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis().to_string()).unwrap_or_else(|e| format!("error: {e}")),
            "file" => match std::fs::read("/etc/hostname") {
                Ok(bytes) => format!("read {} bytes", bytes.len()),
                Err(e) => format!("error: {e}"),
            },
            "env" => std::env::vars().count().to_string(),
            "sleep" => {
                std::thread::sleep(Duration::from_secs(3600));
                "slept".to_string()
            }
            "panic" => panic!("wasi-probe was asked to panic at offset {}", record.offset),
            _ => {
                eprintln!("wasi-probe passed offset {} of {}", record.offset, record.topic);
                out.push(Output::forward(record));
                return Ok(());
            }
        };
        out.push(Output::forward(record).with_value(answer.into_bytes()));
        Ok(())
    }
}

fjord_plugin_sdk::transform!(Probe);
