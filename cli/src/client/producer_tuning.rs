//! Producer settings shared by `fjord produce` and `fjord bench`: acknowledgements,
//! compression and batching, applied to an rdkafka configuration.

use rdkafka::ClientConfig;

/// `--acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Acks {
    /// Do not wait for the broker (records can be lost silently)
    #[value(name = "0")]
    None,
    /// Wait for the partition leader to append
    #[value(name = "1")]
    Leader,
    /// Wait for every in-sync replica (and, on a single Fjord node, for fsync)
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    /// librdkafka's value for `acks`.
    pub fn as_config(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

impl std::fmt::Display for Acks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_config())
    }
}

/// `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// How records are acknowledged, compressed and batched.
#[derive(Debug, Clone, clap::Args)]
pub struct ProducerTuning {
    /// Acknowledgements to wait for: 0, 1 or all
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,

    /// Compression of record batches
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Compression,

    /// How long to wait for more records before sending a batch (linger.ms)
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub linger_ms: u64,

    /// Largest batch in bytes per partition (batch.size)
    #[arg(long, value_name = "BYTES", default_value_t = 1_000_000)]
    pub batch_size: u64,
}

impl ProducerTuning {
    /// Sets acks, compression and batching on `config`; with acks=all also idempotence, so
    /// retries neither duplicate nor reorder records.
    pub fn apply(&self, config: &mut ClientConfig) {
        config
            .set("acks", self.acks.as_config())
            .set("compression.type", self.compression.as_config())
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_size.to_string())
            .set("enable.idempotence", (self.acks == Acks::All).to_string());
    }
}
