//! `fjord transform delete`.

use fjord_log_core::transform::TransformRequest;

use crate::client::{ClientArgs, TimeoutArgs};

/// Remove a transform: its runners stop after their batch in hand. Its committed input
/// offsets stay in the group fjord-transform-NAME, so deploying it again resumes there.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The transform
    pub name: String,

    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

/// Deletes the transform.
pub fn run(args: DeleteArgs) -> anyhow::Result<()> {
    super::call(&args.client, args.timeout.timeout, &TransformRequest::Delete { name: args.name.clone() })?;
    eprintln!("Deleted transform {}.", args.name);
    Ok(())
}
