//! Malformed input on the Kafka port of a real `fjord broker`, sent with plain `TcpStream`s
//! (no client library, every byte written by hand).
//!
//! Each test sends bad bytes and then proves three things:
//! - the broker closed that connection, or answered it the way Kafka does;
//! - the broker process still runs (and never logged a panic);
//! - a connection opened *before* the bad input, and a fresh one, still get correct
//!   ApiVersions v0 answers.
//!
//! Where the broker had to refuse something, `fjord_broker_request_errors_total` on the
//! Prometheus endpoint must have grown. Every loop is bounded and every read has a timeout.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use fjord_tests::{BrokerProcess, Rng};

/// How long the broker may take to answer or to close a connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The broker's default `socket.request.max.bytes`.
const SOCKET_REQUEST_MAX_BYTES: i32 = 100 * 1024 * 1024;
/// Resident memory the broker must stay under, whatever the input.
const RSS_LIMIT_KIB: u64 = 1024 * 1024;
/// Larger responses than this are not what these tests ask for.
const MAX_RESPONSE: usize = 1024 * 1024;
const CLIENT_ID: &str = "fjord-malformed";

// ---------------------------------------------------------------------------------------
// Hand-encoded requests

/// A frame: `i32` size prefix, then `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Request header v1 (API key, version, correlation id, nullable `i16` client id), then `body`.
fn payload_v1(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&api_key.to_be_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&correlation_id.to_be_bytes());
    v.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    v.extend_from_slice(CLIENT_ID.as_bytes());
    v.extend_from_slice(body);
    v
}

/// Request header v2 (header v1 plus an empty tagged-field section), then `body`.
fn payload_v2(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut header_tail = vec![0u8]; // no tagged fields
    header_tail.extend_from_slice(body);
    payload_v1(api_key, version, correlation_id, &header_tail)
}

fn uvarint(mut n: u32, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn compact_string(s: &str, out: &mut Vec<u8>) {
    uvarint(s.len() as u32 + 1, out);
    out.extend_from_slice(s.as_bytes());
}

/// ApiVersions v0: header v1, empty body.
fn api_versions_v0(correlation_id: i32) -> Vec<u8> {
    frame(&payload_v1(18, 0, correlation_id, &[]))
}

/// ApiVersions v3 (flexible): header v2, client software name and version, no tagged fields.
fn api_versions_v3_payload(correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    compact_string("fjord-tests", &mut body);
    compact_string("1.0", &mut body);
    body.push(0);
    payload_v2(18, 3, correlation_id, &body)
}

/// Metadata v1 with a null topic array (all topics).
fn metadata_v1_payload(correlation_id: i32) -> Vec<u8> {
    payload_v1(3, 1, correlation_id, &(-1i32).to_be_bytes())
}

/// Metadata v0 with an empty topic array (all topics, in v0).
fn metadata_v0(correlation_id: i32) -> Vec<u8> {
    frame(&payload_v1(3, 0, correlation_id, &0i32.to_be_bytes()))
}

// ---------------------------------------------------------------------------------------
// Reading answers

fn connect(broker: &BrokerProcess) -> TcpStream {
    let stream = TcpStream::connect_timeout(&broker.kafka_addr(), IO_TIMEOUT)
        .unwrap_or_else(|e| broker.fail(&format!("cannot connect to {}: {e}", broker.kafka_addr())));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
    let _ = stream.set_nodelay(true);
    stream
}

/// Writes `bytes`, ignoring failures: the broker may close the connection before it has
/// read everything, and the test then checks that it did.
fn send(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}

/// One response frame: `(correlation id, rest of the payload)`.
#[track_caller]
fn read_response(broker: &BrokerProcess, stream: &mut TcpStream, what: &str) -> (i32, Vec<u8>) {
    let mut size = [0u8; 4];
    if let Err(e) = stream.read_exact(&mut size) {
        broker.fail(&format!("{what}: no response size prefix: {e}"));
    }
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > MAX_RESPONSE {
        broker.fail(&format!("{what}: response size {size} is not plausible"));
    }
    let mut payload = vec![0u8; size as usize];
    if let Err(e) = stream.read_exact(&mut payload) {
        broker.fail(&format!("{what}: response of {size} bytes cut short: {e}"));
    }
    let correlation_id = i32::from_be_bytes(payload[..4].try_into().expect("4 bytes"));
    (correlation_id, payload.split_off(4))
}

/// `(api key, min version, max version)`.
type ApiRange = (i16, i16, i16);

/// An ApiVersions v0 response body: `(error code, [(api key, min, max)])`.
fn parse_api_versions_v0(body: &[u8]) -> Option<(i16, Vec<ApiRange>)> {
    let error_code = i16::from_be_bytes(body.get(0..2)?.try_into().ok()?);
    let count = i32::from_be_bytes(body.get(2..6)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut apis = Vec::with_capacity(count.min(1000));
    let mut at = 6;
    for _ in 0..count {
        let entry = body.get(at..at + 6)?;
        apis.push((
            i16::from_be_bytes([entry[0], entry[1]]),
            i16::from_be_bytes([entry[2], entry[3]]),
            i16::from_be_bytes([entry[4], entry[5]]),
        ));
        at += 6;
    }
    Some((error_code, apis))
}

/// Asserts an ApiVersions v0 response: error `expected_error`, Produce listed with a floor of
/// at most 3, ApiVersions itself listed with v0.
#[track_caller]
fn check_api_versions_body(broker: &BrokerProcess, body: &[u8], expected_error: i16, what: &str) {
    let Some((error_code, apis)) = parse_api_versions_v0(body) else {
        broker.fail(&format!("{what}: ApiVersions v0 response does not parse: {body:02x?}"));
    };
    if error_code != expected_error {
        broker.fail(&format!("{what}: ApiVersions error_code {error_code}, expected {expected_error}"));
    }
    if !apis.iter().any(|&(key, min, max)| key == 0 && min <= 3 && min <= max) {
        broker.fail(&format!("{what}: Produce (key 0) with min <= 3 missing from {apis:?}"));
    }
    if !apis.iter().any(|&(key, min, _)| key == 18 && min == 0) {
        broker.fail(&format!("{what}: ApiVersions (key 18) from v0 missing from {apis:?}"));
    }
}

/// Sends ApiVersions v0 on `stream` and checks the answer.
#[track_caller]
fn check_api_versions(broker: &BrokerProcess, stream: &mut TcpStream, correlation_id: i32, what: &str) {
    if let Err(e) = stream.write_all(&api_versions_v0(correlation_id)) {
        broker.fail(&format!("{what}: cannot send ApiVersions: {e}"));
    }
    let (got, body) = read_response(broker, stream, what);
    if got != correlation_id {
        broker.fail(&format!("{what}: correlation id {got}, expected {correlation_id}"));
    }
    check_api_versions_body(broker, &body, 0, what);
}

/// Reads until the broker closes the connection (EOF or reset); panics if it keeps it open
/// for [`IO_TIMEOUT`]. Returns whatever it sent before closing.
#[track_caller]
fn expect_closed(broker: &BrokerProcess, stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > MAX_RESPONSE {
                    broker.fail(&format!("{what}: more than {MAX_RESPONSE} bytes back and still open"));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return got,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                broker.fail(&format!("{what}: the broker kept the connection open for {IO_TIMEOUT:?}"))
            }
            Err(e) => broker.fail(&format!("{what}: unexpected read error {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The broker's health

/// `VmRSS` and `VmHWM` (peak) of the broker, in KiB.
fn memory_kib(broker: &BrokerProcess) -> (u64, u64) {
    let pid = broker.pid().unwrap_or_else(|| broker.fail("the broker is not running"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| broker.fail(&format!("cannot read /proc/{pid}/status: {e}")));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| broker.fail(&format!("no {name} in /proc/{pid}/status")))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[track_caller]
fn check_memory(broker: &BrokerProcess, what: &str) {
    let (rss, peak) = memory_kib(broker);
    if rss >= RSS_LIMIT_KIB || peak >= RSS_LIMIT_KIB {
        broker.fail(&format!(
            "{what}: broker memory VmRSS {rss} KiB, peak VmHWM {peak} KiB (limit {RSS_LIMIT_KIB} KiB)"
        ));
    }
}

/// `fjord_broker_request_errors_total` from the Prometheus endpoint.
fn request_errors(broker: &BrokerProcess) -> f64 {
    let text = broker.metrics();
    text.lines()
        .find_map(|l| l.strip_prefix("fjord_broker_request_errors_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| broker.fail(&format!("no fjord_broker_request_errors_total sample in:\n{text}")))
}

/// A broker with one connection opened (and checked) before any bad input.
struct Fixture {
    broker: BrokerProcess,
    witness: TcpStream,
    next_correlation_id: i32,
}

impl Fixture {
    fn start() -> Self {
        let broker = BrokerProcess::start();
        let mut witness = connect(&broker);
        check_api_versions(&broker, &mut witness, 1, "witness connection before the bad input");
        Fixture { broker, witness, next_correlation_id: 2 }
    }

    /// The broker runs, logged no panic, stays under the memory limit, and answers both the
    /// connection opened before the bad input and a fresh one.
    #[track_caller]
    fn assert_healthy(&mut self, what: &str) {
        if !self.broker.is_running() {
            self.broker.fail(&format!("{what}: the broker process exited"));
        }
        if self.broker.log().contains("panicked") {
            self.broker.fail(&format!("{what}: the broker logged a panic"));
        }
        check_memory(&self.broker, what);
        let id = self.next_correlation_id;
        self.next_correlation_id += 2;
        check_api_versions(&self.broker, &mut self.witness, id, &format!("{what}: witness connection"));
        let mut fresh = connect(&self.broker);
        check_api_versions(&self.broker, &mut fresh, id + 1, &format!("{what}: fresh connection"));
    }

    /// [`Self::assert_healthy`], then `fjord_broker_request_errors_total >= at_least` (and > 0).
    #[track_caller]
    fn finish(mut self, what: &str, at_least: f64) {
        self.assert_healthy(what);
        let errors = request_errors(&self.broker);
        if errors <= 0.0 || errors < at_least {
            self.broker.fail(&format!(
                "{what}: fjord_broker_request_errors_total is {errors}, expected at least {}",
                at_least.max(1.0)
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tests

/// 200 connections, each sent one blob of seeded random bytes and then half-closed: the
/// broker must end every one of them (answering first if the bytes happened to form a
/// request).
#[test]
fn random_frames_close_only_their_connection() {
    let mut f = Fixture::start();
    let mut rng = Rng::new(0x00f1_02d0_5eed);
    // Served APIs (key, min, max) whose random bodies cannot park the connection for long
    // (no Fetch long poll, no JoinGroup/SyncGroup waiting on a rebalance) nor ask for a
    // random number of partitions (CreateTopics, CreatePartitions).
    let quick_apis: &[(i16, i16, i16)] = &[
        (0, 3, 11),
        (2, 1, 8),
        (3, 0, 12),
        (8, 2, 8),
        (9, 1, 8),
        (10, 0, 4),
        (12, 0, 4),
        (13, 0, 5),
        (15, 0, 5),
        (16, 0, 5),
        (18, 0, 4),
        (20, 1, 5),
        (21, 0, 2),
        (22, 0, 5),
        (23, 2, 4),
        (32, 1, 4),
        (60, 0, 1),
    ];
    let mut answered = 0;
    for i in 0..200u32 {
        let len = match rng.below(10) {
            0 => 0,
            1..=6 => rng.below(64) as usize,
            7 | 8 => rng.below(4096) as usize,
            _ => rng.below(64 * 1024) as usize,
        };
        let bytes = match i % 4 {
            // Anything at all, size prefix included.
            0 => rng.bytes(len.max(1)),
            // A well-formed frame of random bytes.
            1 => frame(&rng.bytes(len)),
            // A served API and version with a random header and body.
            2 => {
                let (key, min, max) = quick_apis[rng.below(quick_apis.len() as u64) as usize];
                let version = min + rng.below((max - min + 1) as u64) as i16;
                let mut payload = Vec::new();
                payload.extend_from_slice(&key.to_be_bytes());
                payload.extend_from_slice(&version.to_be_bytes());
                payload.extend_from_slice(&rng.bytes(len));
                frame(&payload)
            }
            // A served API and version with a valid header and a random body.
            _ => {
                let (key, min, max) = quick_apis[rng.below(quick_apis.len() as u64) as usize];
                let version = min + rng.below((max - min + 1) as u64) as i16;
                frame(&payload_v2(key, version, i as i32, &rng.bytes(len)))
            }
        };
        let mut conn = connect(&f.broker);
        send(&mut conn, &bytes);
        let _ = conn.shutdown(Shutdown::Write);
        let back = expect_closed(&f.broker, &mut conn, &format!("random frame #{i} ({} bytes)", bytes.len()));
        if !back.is_empty() {
            answered += 1;
        }
        if i % 50 == 49 {
            f.assert_healthy(&format!("after {} random frames", i + 1));
        }
    }
    eprintln!("random frames: {answered} of 200 were answered before the close");
    f.finish("random frames", 100.0);
}

/// Valid requests cut at every byte, then the client closes: no answer, the broker ends the
/// connection. Then the same requests with a size prefix that matches the cut payload: the
/// broker refuses the short request and closes by itself.
#[test]
fn truncated_requests_close_the_connection() {
    let mut f = Fixture::start();
    let payloads = [("Metadata v1", metadata_v1_payload(7)), ("ApiVersions v3", api_versions_v3_payload(8))];
    let mut expected_errors = 0.0;

    for (name, payload) in &payloads {
        // The byte stream cut at every position: the client stops mid-frame.
        let full = frame(payload);
        for cut in 0..full.len() {
            let mut conn = connect(&f.broker);
            send(&mut conn, &full[..cut]);
            let _ = conn.shutdown(Shutdown::Write);
            let what = format!("{name} frame cut after {cut} of {} bytes", full.len());
            let back = expect_closed(&f.broker, &mut conn, &what);
            if !back.is_empty() {
                f.broker.fail(&format!("{what}: answered {back:02x?}"));
            }
            if cut > 0 {
                expected_errors += 1.0;
            }
        }
        // A complete frame holding a cut request: the client keeps its side open.
        for cut in 0..payload.len() {
            let mut conn = connect(&f.broker);
            send(&mut conn, &frame(&payload[..cut]));
            let what = format!("{name} request cut to {cut} of {} bytes in a whole frame", payload.len());
            let back = expect_closed(&f.broker, &mut conn, &what);
            if !back.is_empty() {
                f.broker.fail(&format!("{what}: answered {back:02x?}"));
            }
            expected_errors += 1.0;
        }
        f.assert_healthy(&format!("after every cut of {name}"));
    }
    f.finish("truncated requests", expected_errors);
}

/// Size prefixes no request can have: the broker closes the connection at once, without
/// reserving the announced memory. Frames announcing exactly the limit and never finished do
/// not cost resident memory either.
#[test]
fn absurd_sizes_are_refused_without_allocating() {
    let mut f = Fixture::start();
    let sizes = [i32::MAX, i32::MIN, -1, -4096, SOCKET_REQUEST_MAX_BYTES + 1, 1 << 30, 0];
    for size in sizes {
        let mut conn = connect(&f.broker);
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload_v1(3, 1, 9, &[0, 0, 0, 0]));
        send(&mut conn, &bytes);
        // The client keeps its side open: the broker must close on its own.
        let what = format!("size prefix {size}");
        let back = expect_closed(&f.broker, &mut conn, &what);
        if !back.is_empty() {
            f.broker.fail(&format!("{what}: answered {back:02x?}"));
        }
        check_memory(&f.broker, &what);
    }
    f.assert_healthy("after absurd sizes");

    // Four frames announcing exactly socket.request.max.bytes, 1 KiB of each sent: the broker
    // waits for the rest, and must not hold 400 MiB resident meanwhile.
    let mut pending: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut conn = connect(&f.broker);
            let mut bytes = SOCKET_REQUEST_MAX_BYTES.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0u8; 1024]);
            send(&mut conn, &bytes);
            conn
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (rss, _) = memory_kib(&f.broker);
    if rss >= 256 * 1024 {
        f.broker.fail(&format!("4 pending 100 MiB frames: broker VmRSS {rss} KiB"));
    }
    f.assert_healthy("while 4 frames of socket.request.max.bytes are pending");
    for (i, conn) in pending.iter_mut().enumerate() {
        let _ = conn.shutdown(Shutdown::Write);
        expect_closed(&f.broker, conn, &format!("pending 100 MiB frame #{i} abandoned"));
    }
    f.finish("absurd sizes", sizes.len() as f64 + 4.0);
}

/// Tiny requests whose arrays announce 2^31-1 elements (this aborted the process before the
/// vendored kafka-protocol patch): refused, connection closed, nothing allocated.
#[test]
fn huge_array_counts_are_refused() {
    let f = Fixture::start();
    // Metadata v1: topics, an i32-counted array.
    let mut v1_body = 0x7fff_ffffi32.to_be_bytes().to_vec();
    v1_body.extend_from_slice(&[0, 1, b'x']);
    // Metadata v9 (flexible): topics, a compact array whose count is uvarint(n + 1).
    let mut v9_body = Vec::new();
    uvarint(0x7fff_ffff, &mut v9_body);
    v9_body.extend_from_slice(&[0, 0, 0, 0]);
    // CreateTopics v2: topics array of 2^31-1.
    let mut create_body = 0x7fff_ffffi32.to_be_bytes().to_vec();
    create_body.extend_from_slice(&[0, 0, 0, 0]);
    let requests = [
        ("Metadata v1", frame(&payload_v1(3, 1, 11, &v1_body))),
        ("Metadata v9", frame(&payload_v2(3, 9, 12, &v9_body))),
        ("CreateTopics v2", frame(&payload_v1(19, 2, 13, &create_body))),
    ];
    for (name, bytes) in &requests {
        let mut conn = connect(&f.broker);
        send(&mut conn, bytes);
        let what = format!("{name} with an array of 2^31-1 elements");
        let back = expect_closed(&f.broker, &mut conn, &what);
        if !back.is_empty() {
            f.broker.fail(&format!("{what}: answered {back:02x?}"));
        }
        check_memory(&f.broker, &what);
    }
    f.finish("huge array counts", requests.len() as f64);
}

/// API keys Kafka does not define or this broker does not serve, and versions outside the
/// served range: the connection is closed without an answer.
#[test]
fn unknown_apis_and_versions_close_the_connection() {
    let f = Fixture::start();
    let requests = [
        ("API key 999", frame(&payload_v1(999, 0, 21, &[]))),
        ("API key -1", frame(&payload_v1(-1, 0, 22, &[]))),
        ("AddPartitionsToTxn (24), not served", frame(&payload_v1(24, 0, 23, &[0, 0, 0, 0]))),
        ("Produce v99", frame(&payload_v1(0, 99, 24, &[0, 0, 0, 0]))),
        ("Produce v2, below the floor", frame(&payload_v1(0, 2, 25, &[0, 0, 0, 0]))),
        ("Metadata v-1", frame(&payload_v1(3, -1, 26, &[0, 0, 0, 0]))),
    ];
    for (name, bytes) in &requests {
        let mut conn = connect(&f.broker);
        // A valid request first: the connection works until the bad one.
        check_api_versions(&f.broker, &mut conn, 20, name);
        send(&mut conn, bytes);
        let back = expect_closed(&f.broker, &mut conn, name);
        if !back.is_empty() {
            f.broker.fail(&format!("{name}: answered {back:02x?}"));
        }
    }
    f.finish("unknown APIs and versions", requests.len() as f64);
}

/// ApiVersions at a version the broker does not know: Kafka answers in the v0 layout with
/// UNSUPPORTED_VERSION (35) and the served ranges, and keeps the connection for the retry.
#[test]
fn api_versions_at_an_unknown_version_answers_unsupported_version() {
    let mut f = Fixture::start();
    let mut conn = connect(&f.broker);
    // What a client from the future sends: a flexible header and a body we cannot know.
    let mut body = Vec::new();
    compact_string("future-client", &mut body);
    compact_string("99.0", &mut body);
    body.extend_from_slice(&[0, 0xde, 0xad, 0xbe, 0xef]);
    send(&mut conn, &frame(&payload_v2(18, 99, 4242, &body)));
    let (correlation_id, body) = read_response(&f.broker, &mut conn, "ApiVersions v99");
    assert_eq!(correlation_id, 4242, "ApiVersions v99: correlation id");
    check_api_versions_body(&f.broker, &body, 35, "ApiVersions v99");
    // The retry at v0 on the same connection.
    check_api_versions(&f.broker, &mut conn, 4243, "ApiVersions v0 after the v99 fallback");
    f.assert_healthy("after ApiVersions v99");
}

/// Requests written back to back in one write are answered in order; a bad request in the
/// middle of a pipeline gets the ones before it answered, then the connection closed.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let f = Fixture::start();
    let mut conn = connect(&f.broker);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for round in 0..4 {
        let base = 1000 + round * 10;
        batch.extend_from_slice(&api_versions_v0(base));
        batch.extend_from_slice(&frame(&metadata_v1_payload(base + 1)));
        batch.extend_from_slice(&frame(&api_versions_v3_payload(base + 2)));
        batch.extend_from_slice(&metadata_v0(base + 3));
        expected.extend_from_slice(&[base, base + 1, base + 2, base + 3]);
    }
    send(&mut conn, &batch);
    for (i, want) in expected.iter().enumerate() {
        let (got, body) = read_response(&f.broker, &mut conn, &format!("pipelined response #{i}"));
        if got != *want {
            f.broker.fail(&format!("pipelined response #{i}: correlation id {got}, expected {want}"));
        }
        if want % 10 == 0 {
            check_api_versions_body(&f.broker, &body, 0, &format!("pipelined ApiVersions v0 #{i}"));
        }
    }
    check_api_versions(&f.broker, &mut conn, 2000, "after the pipeline");

    // Two good requests, a bad one, a good one: two answers, then the close.
    let mut conn = connect(&f.broker);
    let mut batch = api_versions_v0(3001);
    batch.extend_from_slice(&metadata_v0(3002));
    batch.extend_from_slice(&frame(&payload_v1(999, 0, 3003, &[])));
    batch.extend_from_slice(&api_versions_v0(3004));
    send(&mut conn, &batch);
    for want in [3001, 3002] {
        let (got, _) = read_response(&f.broker, &mut conn, "pipeline with a bad request");
        if got != want {
            f.broker.fail(&format!("pipeline with a bad request: correlation id {got}, expected {want}"));
        }
    }
    let back = expect_closed(&f.broker, &mut conn, "pipeline after the bad request");
    if !back.is_empty() {
        f.broker.fail(&format!("the request after the bad one was answered: {back:02x?}"));
    }
    f.finish("pipelining", 1.0);
}

/// A 40-byte CreateTopics (validate_only, even) asking for 2^31-1 partitions must be refused
/// with an error for the topic, not attempted: sizing partition placements from the count would
/// ask the allocator for 120 GB and abort the process.
#[test]
fn create_topics_with_an_absurd_partition_count_is_refused() {
    let mut f = Fixture::start();
    let mut conn = connect(&f.broker);
    let name = b"absurd";
    // CreateTopics v2: topics [name, num_partitions, replication_factor, assignments[], configs[]],
    // timeout_ms, validate_only.
    let mut body = 1i32.to_be_bytes().to_vec();
    body.extend_from_slice(&(name.len() as i16).to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&30_000i32.to_be_bytes());
    body.push(1);
    send(&mut conn, &frame(&payload_v1(19, 2, 77, &body)));
    let (correlation_id, response) = read_response(&f.broker, &mut conn, "CreateTopics with 2^31-1 partitions");
    assert_eq!(correlation_id, 77);
    // throttle_time_ms i32, topics count i32, name (i16 length + bytes), error_code i16.
    let at = 4 + 4 + 2 + name.len();
    let error_code = response
        .get(at..at + 2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]))
        .unwrap_or_else(|| f.broker.fail(&format!("CreateTopics response too short: {response:02x?}")));
    if error_code == 0 {
        f.broker.fail("CreateTopics with 2^31-1 partitions succeeded");
    }
    f.assert_healthy("after CreateTopics with 2^31-1 partitions");
}
