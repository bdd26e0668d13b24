//! `fjord-tests`: cross-crate tests.
//!
//! Tests here start real `fjord` processes and drive them with real clients (rdkafka, kcat,
//! confluent-kafka, kafka-python), and will grow to multi-broker clusters and failure
//! scenarios. The library part holds the shared harness; the tests live in `tests/tests/`,
//! one file per client family, and the Python client programs in `tests/python/`.
//!
//! - [`BrokerProcess`] runs one `fjord broker` on free loopback ports with its own data
//!   directory, and can kill, restart and stop it.
//! - [`PowerLossShim`] and [`PowerLossSession`] simulate a power loss under a broker: an
//!   LD_PRELOAD shim records what it fsynced, and a cut rebuilds its data directory as the
//!   power loss could have left it (see the `power_loss` module for the model).
//! - [`ClusterProcess`] runs several nodes as one cluster; [`NetworkSplitter`] sits between
//!   them so a test can cut the network and heal it.
//! - [`RawClient`] sends single requests encoded with the `kafka-protocol` crate, for the
//!   APIs and the hostile inputs client libraries do not produce.
//! - [`ConnectProcess`] runs a `fjord connect` worker, stopped cleanly or killed.
//! - [`run`] runs any command with a time limit and captures its output; [`python`],
//!   [`run_python_check`] and [`kcat`] find the client tools the tests drive.
//!
//! Tools are found through the environment that `./scripts/test` sets up: `FJORD_BIN` (the
//! `fjord` binary), `FJORD_PYTHON` (the Python of a venv with the clients of
//! `tests/python/requirements.txt`), and `kcat` on `PATH` (or `FJORD_KCAT`). A missing tool
//! fails the test with the command that installs it: these tests never skip.
//!
//! Every wait is bounded. A test that fails while a broker runs prints the end of the
//! broker's log; `FJORD_TEST_KEEP=1` keeps the broker's directory after a failure.

mod broker;
mod clients;
mod cluster;
mod connect;
mod http;
mod kafka_rpc;
mod netsplit;
mod postgres;
mod power_loss;
mod process;
mod rng;

pub use broker::{BrokerBuilder, BrokerProcess, fjord_bin};
pub use cluster::{ClusterProcess, partition_log_dump};
pub use connect::ConnectProcess;
pub use http::{HttpAnswer, http};
pub use clients::{kcat, kcat_command, plugin_path, python, python_script, run_python_check, topic_reader, unique_name};
pub use kafka_rpc::{CallError, RawClient};
pub use netsplit::NetworkSplitter;
pub use postgres::{TestDatabase, postgres_url};
pub use power_loss::{CutReport, PowerLossSession, PowerLossShim};
pub use rng::Rng;
pub use process::{Output, run, wait_until};
