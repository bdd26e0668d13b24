//! `fjord connect list|status|create|delete|pause|resume|restart`: people's commands over a
//! worker's REST API, tables by default and `--output json` for scripts.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use super::rest_client::WorkerArgs;
use crate::output::{OutputArgs, TextTable, print_json};

/// `fjord connect list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// A connector named on the command line.
#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The connector's name
    name: String,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `fjord connect create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// A connector config file (JSON, YAML, TOML or .properties)
    file: PathBuf,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `fjord connect restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// The connector's name
    name: String,
    /// Restart the tasks too, not only the connector
    #[arg(long)]
    include_tasks: bool,
    /// Restart only what has failed
    #[arg(long)]
    only_failed: bool,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn list(args: ListArgs) -> anyhow::Result<()> {
    let expanded = args.worker.call("GET", "/connectors?expand=status", None)?;
    if args.output.json() {
        return print_json(&expanded);
    }
    let mut table = TextTable::new(&[("NAME", false), ("TYPE", false), ("STATE", false), ("TASKS RUNNING", true), ("FAILED", true)]);
    if let Value::Object(map) = &expanded {
        for (name, entry) in map {
            let status = &entry["status"];
            let tasks = status["tasks"].as_array().cloned().unwrap_or_default();
            let running = tasks.iter().filter(|t| t["state"] == "RUNNING").count();
            let failed = tasks.iter().filter(|t| t["state"] == "FAILED").count();
            table.row([name.clone(), text(&status["type"]), text(&status["connector"]["state"]), format!("{running}/{}", tasks.len()), failed.to_string()]);
        }
    }
    table.print()
}

pub fn status(args: NameArgs) -> anyhow::Result<()> {
    let status = args.worker.call("GET", &format!("/connectors/{}/status", encode(&args.name)), None)?;
    if args.output.json() {
        return print_json(&status);
    }
    println!("{} ({}): {} on {}", args.name, text(&status["type"]), text(&status["connector"]["state"]), text(&status["connector"]["worker_id"]));
    let mut table = TextTable::new(&[("TASK", true), ("STATE", false), ("WORKER", false), ("RESTARTS", true), ("LAST ERROR", false)]);
    for task in status["tasks"].as_array().cloned().unwrap_or_default() {
        let trace = text(&task["trace"]);
        table.row([text(&task["id"]), text(&task["state"]), text(&task["worker_id"]), text(&task["restarts"]), trace.lines().next().unwrap_or_default().to_string()]);
    }
    table.print()
}

pub fn create(args: CreateArgs) -> anyhow::Result<()> {
    let config = fjord_connect::config::file::load(&args.file)?;
    let body = json!({"name": config.name(), "config": config});
    let created = args.worker.call("POST", "/connectors", Some(&body)).with_context(|| format!("could not create connector {}", config.name()))?;
    if args.output.json() {
        return print_json(&created);
    }
    println!("created connector {} ({}, {} task(s))", config.name(), text(&created["type"]), created["tasks"].as_array().map_or(0, Vec::len));
    Ok(())
}

fn simple(args: &NameArgs, method: &str, action: &str, done: &str) -> anyhow::Result<()> {
    let answer = args.worker.call(method, &format!("/connectors/{}{action}", encode(&args.name)), None)?;
    if args.output.json() {
        return print_json(&json!({"name": args.name, "result": done, "answer": answer}));
    }
    println!("{} {done}", args.name);
    Ok(())
}

pub fn delete(args: NameArgs) -> anyhow::Result<()> {
    simple(&args, "DELETE", "", "deleted")
}

pub fn pause(args: NameArgs) -> anyhow::Result<()> {
    simple(&args, "PUT", "/pause", "pausing")
}

pub fn resume(args: NameArgs) -> anyhow::Result<()> {
    simple(&args, "PUT", "/resume", "resuming")
}

pub fn stop(args: NameArgs) -> anyhow::Result<()> {
    simple(&args, "PUT", "/stop", "stopped")
}

pub fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let path = format!("/connectors/{}/restart?includeTasks={}&onlyFailed={}", encode(&args.name), args.include_tasks, args.only_failed);
    let answer = args.worker.call("POST", &path, None)?;
    if args.output.json() {
        return print_json(&json!({"name": args.name, "result": "restarting", "status": answer}));
    }
    println!("{} restarting", args.name);
    Ok(())
}
