//! `/connectors/...`: creating, reading, reconfiguring, controlling and deleting connectors,
//! and their offsets.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::config::ConnectorConfig;
use crate::rest::ApiError;
use crate::runtime::{TargetState, Worker};

type Answer = Result<Response, ApiError>;

pub async fn root() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION"), "commit": "fjord", "kafka_cluster_id": Value::Null}))
}

/// Query parameters as (key, value) pairs, repeated keys kept (`?expand=status&expand=info`).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

fn flag(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!("{key} must be true or false, got {v:?}"))),
    }
}

pub async fn list(State(worker): State<Worker>, RawQuery(query): RawQuery) -> Answer {
    let pairs = query_pairs(query.as_deref());
    let expand: Vec<&str> = pairs.iter().filter(|(k, _)| k == "expand").map(|(_, v)| v.as_str()).collect();
    let names = worker.names().await;
    if expand.is_empty() {
        return Ok(Json(names).into_response());
    }
    let mut out = Map::new();
    for name in names {
        let mut entry = Map::new();
        if expand.contains(&"status")
            && let Ok(status) = worker.status(&name).await {
                entry.insert("status".into(), serde_json::to_value(status).unwrap_or(Value::Null));
            }
        if expand.contains(&"info")
            && let Ok(info) = worker.info(&name).await {
                entry.insert("info".into(), serde_json::to_value(info).unwrap_or(Value::Null));
            }
        out.insert(name, Value::Object(entry));
    }
    Ok(Json(Value::Object(out)).into_response())
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A config map from JSON: every value a string (numbers and booleans taken as their text).
fn config_map(value: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let Value::Object(map) = value else { return Err(ApiError::bad_request("Connector config must be a JSON object of string values")) };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
            _ => Err(ApiError::bad_request(format!("Connector config value of {k} must be a string"))),
        })
        .collect()
}

pub async fn create(State(worker): State<Worker>, body: Bytes) -> Answer {
    let body = parse_json(&body)?;
    let name = body.get("name").and_then(Value::as_str).map(str::to_string);
    let Some(config) = body.get("config") else {
        return Err(ApiError::bad_request("Connector config is missing: the body must be {\"name\": ..., \"config\": {...}}"));
    };
    let mut entries = config_map(config)?;
    let name = match (name, entries.get("name")) {
        (Some(n), Some(c)) if *c != n => return Err(ApiError::bad_request(format!("Connector name configuration ({c}) doesn't match connector name in the URL ({n})"))),
        (Some(n), _) => n,
        (None, Some(c)) => c.clone(),
        (None, None) => return Err(ApiError::bad_request("Connector name is missing")),
    };
    if name.trim().is_empty() || name.contains('/') {
        return Err(ApiError::bad_request(format!("Connector name {name:?} is not valid: it must be non-empty and contain no '/'")));
    }
    entries.insert("name".into(), name);
    let config = ConnectorConfig::new(entries)?;
    let info = worker.create(config).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub async fn info(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    Ok(Json(worker.info(&name).await?).into_response())
}

pub async fn delete(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    worker.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_config(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    Ok(Json(worker.info(&name).await?.config).into_response())
}

pub async fn put_config(State(worker): State<Worker>, Path(name): Path<String>, body: Bytes) -> Answer {
    let mut entries = config_map(&parse_json(&body)?)?;
    if let Some(other) = entries.get("name").filter(|n| **n != name) {
        return Err(ApiError::bad_request(format!("Connector name configuration ({other}) doesn't match connector name in the URL ({name})")));
    }
    entries.insert("name".into(), name);
    let config = ConnectorConfig::new(entries)?;
    let (info, created) = worker.put(config).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(info)).into_response())
}

/// KIP-477: keys in the body replace, keys set to null are removed, others stay.
pub async fn patch_config(State(worker): State<Worker>, Path(name): Path<String>, body: Bytes) -> Answer {
    let patch = parse_json(&body)?;
    let Value::Object(patch) = patch else { return Err(ApiError::bad_request("The patch must be a JSON object")) };
    let mut entries = worker.info(&name).await?.config.entries().clone();
    for (k, v) in patch {
        match v {
            Value::Null => {
                entries.remove(&k);
            }
            Value::String(s) => {
                entries.insert(k, s);
            }
            Value::Number(_) | Value::Bool(_) => {
                entries.insert(k, v.to_string());
            }
            _ => return Err(ApiError::bad_request(format!("Connector config value of {k} must be a string or null"))),
        }
    }
    if entries.get("name").is_some_and(|n| *n != name) {
        return Err(ApiError::bad_request("The connector name cannot be changed"));
    }
    entries.insert("name".into(), name);
    let (info, _) = worker.put(ConnectorConfig::new(entries)?).await?;
    Ok(Json(info).into_response())
}

pub async fn status(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    Ok(Json(worker.status(&name).await?).into_response())
}

pub async fn tasks(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    let configs = worker.task_configs(&name).await?;
    let tasks: Vec<Value> = configs.into_iter().enumerate().map(|(task, config)| json!({"id": {"connector": name, "task": task}, "config": config})).collect();
    Ok(Json(tasks).into_response())
}

fn task_number(task: &str) -> Result<usize, ApiError> {
    task.parse().map_err(|_| ApiError::bad_request(format!("Task id {task:?} is not a number")))
}

pub async fn task_status(State(worker): State<Worker>, Path((name, task)): Path<(String, String)>) -> Answer {
    let task = task_number(&task)?;
    let status = worker.status(&name).await?;
    let found = status.tasks.into_iter().find(|t| t.id == task).ok_or_else(|| ApiError::not_found(format!("No status found for task {name}-{task}")))?;
    Ok(Json(found).into_response())
}

pub async fn restart_task(State(worker): State<Worker>, Path((name, task)): Path<(String, String)>) -> Answer {
    worker.restart_task(&name, task_number(&task)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn pause(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    worker.set_state(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn resume(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    worker.set_state(&name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn stop(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    worker.set_state(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /connectors/{name}/restart?includeTasks=&onlyFailed=`: without either flag only
/// the connector restarts (204); with them, the matching tasks too (202 and the status).
pub async fn restart(State(worker): State<Worker>, Path(name): Path<String>, RawQuery(query): RawQuery) -> Answer {
    let pairs = query_pairs(query.as_deref());
    let include_tasks = flag(&pairs, "includeTasks")?;
    let only_failed = flag(&pairs, "onlyFailed")?;
    if !include_tasks && !only_failed {
        worker.info(&name).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let status = if include_tasks { worker.restart(&name, only_failed).await? } else { worker.status(&name).await? };
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

pub async fn offsets(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    let entries = worker.offsets(&name).await?;
    let offsets: Vec<Value> = entries.into_iter().map(|(partition, offset)| json!({"partition": partition, "offset": offset})).collect();
    Ok(Json(json!({"offsets": offsets})).into_response())
}

pub async fn alter_offsets(State(worker): State<Worker>, Path(name): Path<String>, body: Bytes) -> Answer {
    let body = parse_json(&body)?;
    let Some(Value::Array(list)) = body.get("offsets") else {
        return Err(ApiError::bad_request("The body must be {\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}"));
    };
    let mut entries = Vec::with_capacity(list.len());
    for item in list {
        match (item.get("partition"), item.get("offset")) {
            (Some(Value::Object(p)), Some(Value::Object(o))) => entries.push((p.clone(), o.clone())),
            _ => return Err(ApiError::bad_request("Each entry needs a \"partition\" object and an \"offset\" object")),
        }
    }
    worker.alter_offsets(&name, entries).await?;
    Ok(Json(json!({"message": "The offsets for this connector have been altered successfully"})).into_response())
}

pub async fn reset_offsets(State(worker): State<Worker>, Path(name): Path<String>) -> Answer {
    worker.reset_offsets(&name).await?;
    Ok(Json(json!({"message": "The offsets for this connector have been reset successfully"})).into_response())
}
