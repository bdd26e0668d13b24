//! Talking to a connect worker's REST API (Fjord's or Kafka Connect's: the API is the same):
//! `--url` (or FJORD_CONNECT_URL), requests with JSON bodies, and error answers
//! (`{"error_code", "message"}`) turned into errors that say what the worker said.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Which worker to talk to. Flattened into every `fjord connect` client subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// The connect worker's REST API (`fjord dev` serves one on 127.0.0.1:8083)
    #[arg(long, value_name = "URL", env = "FJORD_CONNECT_URL", default_value = "http://127.0.0.1:8083")]
    pub url: String,
}

impl WorkerArgs {
    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    }

    /// Sends `method path` (with a JSON body) and returns the answer's JSON (`Null` for an
    /// empty body); a 4xx/5xx answer is an error carrying the worker's message.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let agent = self.agent();
        let sent = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            ("POST", Some(b)) => agent.post(&url).header("Content-Type", "application/json").send(b.to_string()),
            ("POST", None) => agent.post(&url).send_empty(),
            ("PUT", Some(b)) => agent.put(&url).header("Content-Type", "application/json").send(b.to_string()),
            ("PUT", None) => agent.put(&url).send_empty(),
            (other, _) => bail!("unsupported method {other}"),
        };
        let mut answer = sent.with_context(|| format!("could not reach the connect worker at {} (is it running? set --url or FJORD_CONNECT_URL)", self.url))?;
        let status = answer.status().as_u16();
        let text = answer.body_mut().read_to_string().context("could not read the worker's answer")?;
        let json: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).with_context(|| format!("the worker answered HTTP {status} with something that is not JSON: {text}"))? };
        if status >= 400 {
            let message = json.get("message").and_then(Value::as_str).unwrap_or(text.as_str());
            bail!("{message} (HTTP {status})");
        }
        Ok(json)
    }
}
