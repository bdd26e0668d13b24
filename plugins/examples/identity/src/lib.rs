//! `identity`: every record out as it came in.

use fjord_plugin_sdk::{Config, Output, Record, Transform};

/// Passes records through.
pub struct Identity;

impl Transform for Identity {
    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Identity)
    }

    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
        out.push(Output::forward(record));
        Ok(())
    }
}

fjord_plugin_sdk::transform!(Identity);

#[cfg(test)]
mod tests {
    #[test]
    fn records_come_out_unchanged() {
        let out = fjord_plugin_sdk::testing::run::<super::Identity>(&[], ["a", "b"]).unwrap();
        assert_eq!(out.iter().map(|o| o.value_str().unwrap()).collect::<Vec<_>>(), ["a", "b"]);
    }
}
