//! The plugin host with real plugins: the examples, and a guest that misbehaves on purpose in
//! every way the host must survive (plugins/test-guests/misbehave), and one built for WASI that
//! reaches for what WASI offers (plugins/test-guests-wasi/wasi-probe). The `.wasm` files come from
//! `./scripts/build-plugins` (the test command runs it first); `FJORD_PLUGINS_DIR` points
//! elsewhere.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use fjord_plugins::{Grants, Header, InputBatch, InputRecord, Plugin, PluginError, PluginHost, PluginInstance, PluginLimits};

fn plugins_dir() -> PathBuf {
    std::env::var_os("FJORD_PLUGINS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"))
}

#[track_caller]
fn wasm(name: &str) -> Vec<u8> {
    let path = plugins_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {} ({e}): build the plugins first with ./scripts/build-plugins (./scripts/test does)", path.display()))
}

fn compile(host: &PluginHost, file: &str, limits: PluginLimits) -> Arc<Plugin> {
    let name = file.trim_end_matches(".wasm").rsplit('/').next().unwrap();
    Arc::new(Plugin::compile(host, name, &wasm(file), limits).unwrap())
}

fn record(offset: i64, value: &str) -> InputRecord {
    InputRecord {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: vec![Header { key: "h".into(), value: None }],
        timestamp: 1_700_000_000_000,
        offset,
    }
}

/// Records of partition 0 of topic `in`.
fn batch_of(records: Vec<InputRecord>) -> InputBatch {
    InputBatch { topic: "in".into(), partition: 0, records }
}

fn batch(first: i64, values: &[&str]) -> InputBatch {
    batch_of(values.iter().enumerate().map(|(i, v)| record(first + i as i64, v)).collect())
}

fn values(out: &[fjord_plugins::OutputRecord]) -> Vec<String> {
    out.iter().map(|o| String::from_utf8(o.value.clone().unwrap().to_vec()).unwrap()).collect()
}

#[test]
fn mask_pii_leaves_no_email_or_card_digits_in_text_or_json() {
    let host = PluginHost::new().unwrap();
    let mut masker = PluginInstance::new(compile(&host, "mask-pii.wasm", PluginLimits::default()), vec![]).unwrap();
    let input = batch(
        10,
        &[
            "contact jane.doe@example.com, card 4111 1111 1111 1111",
            r#"{"email":"ops@fjord.dev","pay":{"card":"5500-0000-0000-0004"},"n":1}"#,
            "nothing to hide",
        ],
    );
    let out = masker.process(&input).unwrap();
    let texts = values(&out);
    assert_eq!(texts[0], "contact [EMAIL], card [CARD]");
    assert_eq!(texts[1], r#"{"email":"[EMAIL]","pay":{"card":"[CARD]"},"n":1}"#);
    assert_eq!(texts[2], "nothing to hide");
    for t in &texts {
        assert!(!t.contains('@') && !t.contains("4111") && !t.contains("0004"), "{t}");
    }
    assert_eq!(out[0].key.as_deref(), Some(&b"k"[..]), "keys pass through");
    assert_eq!(out[0].headers.len(), 1, "headers pass through");
}

#[test]
fn identity_returns_a_large_batch_unchanged() {
    let host = PluginHost::new().unwrap();
    let mut identity = PluginInstance::new(compile(&host, "identity.wasm", PluginLimits::default()), vec![]).unwrap();
    let input = batch_of((0..10_000).map(|i| record(i, &format!("value-{i}"))).collect());
    let out = identity.process(&input).unwrap();
    assert_eq!(out.len(), 10_000);
    assert_eq!(values(&out)[9_999], "value-9999");
}

/// Each way of failing is reported with the plugin's name and the batch's offsets; the
/// instance then starts afresh and serves the next batch; other plugins never notice.
#[test]
fn a_misbehaving_plugin_is_stopped_reported_and_recovers_while_others_keep_serving() {
    let host = PluginHost::new().unwrap();
    let limits = PluginLimits { memory_bytes: 16 << 20, call_budget_ms: 300 };
    let mut bad = PluginInstance::new(compile(&host, "test-guests/misbehave.wasm", limits), vec![]).unwrap();
    let mut good = PluginInstance::new(compile(&host, "identity.wasm", PluginLimits::default()), vec![]).unwrap();

    type Expected = fn(&PluginError) -> bool;
    let failures: Vec<(&str, Expected)> = vec![
        ("spin", |e| matches!(e, PluginError::Timeout { budget_ms: 300, offsets: Some((100, 101)), .. })),
        ("boom", |e| matches!(e, PluginError::OutOfMemory { limit_bytes, offsets: Some((100, 101)), .. } if *limit_bytes == 16 << 20)),
        ("trap", |e| matches!(e, PluginError::Trap { offsets: Some((100, 101)), .. })),
        ("garbage", |e| matches!(e, PluginError::Failed { record_index: Some(u32::MAX), offset: None, .. })),
        ("malformed", |e| matches!(e, PluginError::Failed { message, .. } if message.contains("malformed batch") && message.contains("outside"))),
    ];
    for (how, expected) in failures {
        let error = bad.process(&batch(100, &["fine", how])).unwrap_err();
        assert!(expected(&error), "{how}: {error:?}");
        assert_eq!(error.plugin(), Some("misbehave"), "{how}");
        assert!(error.to_string().contains("misbehave"), "{how}: {error}");
        // The same instance serves the next batch (restarted when the failure may have
        // broken it) and the other plugin never noticed.
        assert_eq!(values(&bad.process(&batch(102, &["after"])).unwrap()), ["after"], "{how}");
        assert_eq!(values(&good.process(&batch(0, &["other"])).unwrap()), ["other"], "{how}");
    }
}

#[test]
fn a_configuration_the_plugin_refuses_is_an_error_at_start() {
    let host = PluginHost::new().unwrap();
    let plugin = compile(&host, "test-guests/misbehave.wasm", PluginLimits::default());
    let error = PluginInstance::new(plugin, vec![("refuse".into(), "true".into())]).unwrap_err();
    assert!(matches!(&error, PluginError::Config { message, .. } if message.contains("refused as asked")), "{error:?}");
    let masker = compile(&host, "mask-pii.wasm", PluginLimits::default());
    let error = PluginInstance::new(masker, vec![("ssn".into(), "true".into())]).unwrap_err();
    assert!(error.to_string().contains("unknown setting"), "{error}");
}

#[test]
fn what_is_not_a_transform_component_is_refused_when_compiled() {
    let host = PluginHost::new().unwrap();
    let refused = |bytes: &[u8]| Plugin::compile(&host, "candidate", bytes, PluginLimits::default()).unwrap_err();

    let garbage = refused(b"definitely not wasm");
    assert!(matches!(garbage, PluginError::Invalid { .. }), "{garbage:?}");
    let core = refused(&wat::parse_str("(module (func (export \"process\")))").unwrap());
    assert!(matches!(&core, PluginError::Invalid { reason, .. } if reason.contains("core WebAssembly module")), "{core:?}");
    let empty = refused(&wat::parse_str("(component)").unwrap());
    assert!(matches!(empty, PluginError::WrongWorld { .. }), "{empty:?}");
    let importer = refused(&wat::parse_str(r#"(component (import "acme:net/sockets@1.0.0" (instance (export "connect" (func)))))"#).unwrap());
    assert!(matches!(&importer, PluginError::WrongWorld { reason, .. } if reason.contains("import")), "{importer:?}");
    assert!(importer.to_string().contains("candidate"), "{importer}");
}

#[test]
fn the_router_names_output_topics_and_the_filter_drops_records() {
    let host = PluginHost::new().unwrap();
    let config = vec![("field".into(), "region".into()), ("route.EU".into(), "orders-eu".into()), ("default".into(), "orders-other".into())];
    let mut router = PluginInstance::new(compile(&host, "route-by-field.wasm", PluginLimits::default()), config).unwrap();
    let out = router.process(&batch(0, &[r#"{"region":"EU"}"#, r#"{"region":"US"}"#])).unwrap();
    assert_eq!(out.iter().map(|o| o.topic.clone()).collect::<Vec<_>>(), [Some("orders-eu".to_string()), Some("orders-other".to_string())]);

    let config = vec![("field".into(), "region".into()), ("equals".into(), "EU".into())];
    let mut filter = PluginInstance::new(compile(&host, "json-filter.wasm", PluginLimits::default()), config).unwrap();
    let out = filter.process(&batch(0, &[r#"{"region":"EU"}"#, r#"{"region":"US"}"#, "not json"])).unwrap();
    assert_eq!(values(&out), [r#"{"region":"EU"}"#]);
}

#[test]
fn compiled_plugins_are_kept_on_disk_and_reused_by_the_next_host() {
    let dir = std::env::temp_dir().join(format!("fjord-plugin-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Every compiled plugin in the cache with its modification time: a compile that missed
    // the cache would write (or rewrite) one.
    fn files(p: &std::path::Path, out: &mut Vec<(PathBuf, std::time::SystemTime)>) {
        for entry in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                // Compiled code only: not the usage statistics a cache hit updates (nor the
                // temporary files its worker thread writes them through), nor the cleaner's
                // markers.
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if !name.ends_with(".stats") && !name.contains(".wip-") && !name.starts_with('.') {
                    out.push((path, modified));
                }
            }
        }
    }
    let listing = |dir: &std::path::Path| {
        let mut out = Vec::new();
        files(dir, &mut out);
        out.sort();
        out
    };
    {
        let host = PluginHost::with_compile_cache(&dir).unwrap();
        compile(&host, "mask-pii.wasm", PluginLimits::default());
    }
    let cached = listing(&dir);
    assert!(!cached.is_empty(), "the compiled plugin was written to {}", dir.display());
    let host = PluginHost::with_compile_cache(&dir).unwrap();
    let mut masker = PluginInstance::new(compile(&host, "mask-pii.wasm", PluginLimits::default()), vec![]).unwrap();
    assert_eq!(values(&masker.process(&batch(0, &["a@b.io"])).unwrap()), ["[EMAIL]"]);
    assert_eq!(listing(&dir), cached, "the second host loaded the plugin from the cache: nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plugin_written_in_c_adds_lineage_headers_and_keeps_the_record() {
    let host = PluginHost::new().unwrap();
    let plugin = compile(&host, "lineage.wasm", PluginLimits::default());
    let mut lineage = PluginInstance::new(Arc::clone(&plugin), vec![("prefix".into(), "from.".into())]).unwrap();
    let mut input = batch(41, &["a", "b"]);
    input.records[1].headers.clear();
    input.records[1].key = None;
    // Enough records that the guest's allocator grows its memory a few times.
    input.records.extend((0..2_000).map(|i| record(100 + i, &"x".repeat(300))));
    let out = lineage.process(&input).unwrap();
    assert_eq!(out.len(), input.records.len());
    assert_eq!(values(&out[..2]), ["a", "b"]);
    assert_eq!(out[1].key, None);
    let headers: Vec<(String, Option<String>)> =
        out[0].headers.iter().map(|h| (h.key.clone(), h.value.as_ref().map(|v| String::from_utf8(v.to_vec()).unwrap()))).collect();
    assert_eq!(
        headers,
        [("h".into(), None), ("from.topic".into(), Some("in".into())), ("from.partition".into(), Some("0".into())), ("from.offset".into(), Some("41".into()))]
    );
    assert_eq!(out[1].headers.len(), 3);
    assert_eq!(out[0].timestamp, Some(1_700_000_000_000));
    assert_eq!(out[2_001].headers[3].value.as_deref(), Some(&b"2099"[..]));
    // It refuses what it does not know, like any plugin.
    let refused = PluginInstance::new(plugin, vec![("colour".into(), "blue".into())]).unwrap_err();
    assert!(refused.to_string().contains("unknown setting \"colour\""), "{refused}");
}

/// A plugin built for wasm32-wasip2 imports WASI; it loads, but reaches nothing unless
/// granted: no files, no environment, a clock stopped at zero, stderr discarded. With
/// `clock` and `stderr` granted it reads the time and its stderr is kept, a panic's message
/// included. Sleeping is refused either way.
#[test]
fn a_plugin_built_for_wasi_reaches_only_what_it_is_granted() {
    let host = PluginHost::new().unwrap();
    let probe = compile(&host, "test-guests/wasi-probe.wasm", PluginLimits::default());
    let mut sandboxed = PluginInstance::new(Arc::clone(&probe), vec![]).unwrap();
    let answers = values(&sandboxed.process(&batch(0, &["clock", "file", "env", "hello"])).unwrap());
    assert_eq!(answers[0], "0", "no clock without the grant");
    assert!(answers[1].starts_with("error"), "no files: {answers:?}");
    assert_eq!(answers[2..], ["0", "hello"]);
    assert_eq!(sandboxed.take_stderr(), fjord_plugins::CapturedStderr::default(), "stderr is not kept without the grant");

    let granted = Grants::from_names(["stderr", "clock"]).unwrap();
    let mut logging = PluginInstance::granted(probe, vec![], granted).unwrap();
    let answers = values(&logging.process(&batch(10, &["clock", "file", "hello"])).unwrap());
    let now_ms: u128 = answers[0].parse().unwrap();
    assert!(now_ms > 1_700_000_000_000, "the real clock with the grant: {answers:?}");
    assert!(answers[1].starts_with("error"), "still no files: {answers:?}");
    assert_eq!(logging.take_stderr().lines().collect::<Vec<_>>(), ["wasi-probe passed offset 12 of in"]);

    let panicked = logging.process(&batch(20, &["panic"])).unwrap_err();
    assert!(matches!(panicked, PluginError::Trap { offsets: Some((20, 20)), .. }), "{panicked:?}");
    let stderr = logging.take_stderr().lines().collect::<Vec<_>>().join("\n");
    assert!(stderr.contains("wasi-probe was asked to panic at offset 20"), "the panic's message is kept: {stderr}");

    for instance in [&mut sandboxed, &mut logging] {
        let slept = instance.process(&batch(30, &["sleep"])).unwrap_err();
        assert!(matches!(&slept, PluginError::Trap { message, .. } if message.contains("may not")), "{slept:?}");
        assert_eq!(values(&instance.process(&batch(31, &["after"])).unwrap()), ["after"]);
    }
}
