//! `fjord`: the one binary. Parses the command line and hands each subcommand to its module.
fn main() {}
