//! `fjord transform deploy`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use fjord_log_core::metadata::OnError;
use fjord_log_core::transform::{TransformRequest, TransformResponse};

use crate::client::{ClientArgs, TimeoutArgs, parse_key_value};

/// What a record the plugin fails on does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnErrorArg {
    /// Write it to the dead-letter topic with headers saying why (fjord.error, fjord.source.*)
    DeadLetter,
    /// Drop it (noted in the transform's log)
    Skip,
    /// Stop the transform at that record; deploy it again to resume from there
    Stop,
}

/// What a plugin may be granted beyond its own memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantArg {
    /// Keep what it writes to stderr, a line at a time, in its log (`fjord transform logs`)
    Stderr,
    /// Real wall and monotonic clocks (without it both read zero, the Unix epoch)
    Clock,
}

/// Deploy a WebAssembly transform (a component of the fjord:transform world).
///
/// The plugin is checked by the broker (compiled, and its init run with --config) before
/// anything is recorded: a file that is not a valid plugin is refused with the reason.
/// Deploying a name again replaces that transform; it resumes from its committed offsets.
///
/// A plugin may be built for WASI (`--target wasm32-wasip2`), but it reaches no files,
/// network, environment or clock and its stderr is discarded unless --allow grants it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  Mask e-mail addresses and card numbers from `signups` into `signups-masked`:
    fjord transform deploy mask --wasm target/plugins/mask-pii.wasm --input signups --output signups-masked

  Keep only paid orders, sending records the plugin fails on to a dead-letter topic:
    fjord transform deploy paid --wasm json-filter.wasm --input orders --output paid-orders \\
        --config field=status --config equals=paid --on-error dead-letter --dead-letter-topic orders-dlq

  Keep a plugin's stderr in its log, and let it read the clock:
    fjord transform deploy audit --wasm audit.wasm --input orders --output audited --allow stderr --allow clock
    fjord transform logs audit --follow")]
pub struct DeployArgs {
    /// The transform's name (letters, digits, '.', '_', '-'); its input offsets are kept in
    /// the consumer group fjord-transform-NAME
    pub name: String,

    /// The plugin: a WebAssembly component file
    #[arg(long, value_name = "FILE")]
    pub wasm: PathBuf,

    /// The topic to read
    #[arg(long, value_name = "TOPIC")]
    pub input: String,

    /// A topic to write (repeatable; records naming no topic go to the first)
    #[arg(long = "output", value_name = "TOPIC", required = true)]
    pub outputs: Vec<String>,

    /// A setting for the plugin's init (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub config: Vec<(String, String)>,

    /// What a record the plugin fails on does
    #[arg(long, value_enum, default_value_t = OnErrorArg::DeadLetter)]
    pub on_error: OnErrorArg,

    /// The dead-letter topic (created if missing) [default: NAME.dlq]
    #[arg(long, value_name = "TOPIC")]
    pub dead_letter_topic: Option<String>,

    /// Grant the plugin something beyond its memory (repeatable); nothing by default
    #[arg(long = "allow", value_enum, value_name = "GRANT")]
    pub allow: Vec<GrantArg>,

    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

/// Reads the plugin, deploys it, and reports what was deployed.
pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&args.wasm).with_context(|| format!("could not read the plugin {}", args.wasm.display()))?;
    if wasm.is_empty() {
        bail!("{} is empty; a plugin is a WebAssembly component (see ./scripts/build-plugins)", args.wasm.display());
    }
    if args.dead_letter_topic.is_some() && args.on_error != OnErrorArg::DeadLetter {
        bail!("--dead-letter-topic goes with --on-error dead-letter");
    }
    let on_error = match args.on_error {
        OnErrorArg::DeadLetter => OnError::DeadLetter { topic: args.dead_letter_topic.clone().unwrap_or_else(|| format!("{}.dlq", args.name)) },
        OnErrorArg::Skip => OnError::Skip,
        OnErrorArg::Stop => OnError::Stop,
    };
    let request = TransformRequest::Deploy {
        name: args.name.clone(),
        input: args.input.clone(),
        outputs: args.outputs.clone(),
        config: args.config.clone(),
        on_error,
        allow: args.allow.iter().map(|g| match g {
            GrantArg::Stderr => "stderr".to_string(),
            GrantArg::Clock => "clock".to_string(),
        }).collect(),
        wasm: Arc::from(wasm),
    };
    let TransformResponse::Transform { transform } = super::call(&args.client, args.timeout.timeout, &request)
        .with_context(|| format!("could not deploy transform {} from {}", args.name, args.wasm.display()))?
    else {
        bail!("the broker answered the deployment with something else");
    };
    eprintln!(
        "Deployed transform {}: {} -> {} ({} bytes, sha256 {}). See it with `fjord transform describe {}`.",
        transform.name,
        transform.input,
        transform.outputs.join(", "),
        transform.wasm_bytes,
        &transform.wasm_sha256[..12.min(transform.wasm_sha256.len())],
        transform.name
    );
    Ok(())
}
