//! `json-filter`: keeps a record when a field of its JSON value matches, drops it otherwise.
//!
//! Settings: `field` (required; a dotted path, `user.country`, array items by index), and one
//! of `equals=V` (the field's text — a string's contents, or a number's or boolean's JSON
//! text — is V), `not-equals=V`, or `exists=true|false`. Without any of them: `exists=true`.
//! `on-invalid` (`drop`, the default, or `fail`): what to do with a value that is not JSON.

use fjord_plugin_sdk::json::{self, Value};
use fjord_plugin_sdk::{Config, Output, Record, Transform};

/// How a field is tested.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Equals(String),
    NotEquals(String),
    Exists(bool),
}

/// The filter.
pub struct JsonFilter {
    field: String,
    test: Test,
    fail_on_invalid: bool,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl JsonFilter {
    fn keeps(&self, value: &Value) -> bool {
        let found = json::field(value, &self.field);
        match &self.test {
            Test::Equals(v) => found.is_some_and(|f| text(f) == *v),
            Test::NotEquals(v) => found.is_none_or(|f| text(f) != *v),
            Test::Exists(wanted) => found.is_some_and(|f| !f.is_null()) == *wanted,
        }
    }
}

impl Transform for JsonFilter {
    fn init(config: &Config) -> Result<Self, String> {
        for (key, _) in config.entries() {
            if !matches!(key.as_str(), "field" | "equals" | "not-equals" | "exists" | "on-invalid") {
                return Err(format!("unknown setting {key:?}; json-filter takes field, equals, not-equals, exists and on-invalid"));
            }
        }
        let field = config.require("field")?.to_string();
        let tests: Vec<Test> = [
            config.get("equals").map(|v| Ok(Test::Equals(v.into()))),
            config.get("not-equals").map(|v| Ok(Test::NotEquals(v.into()))),
            config.get("exists").map(|v| match v {
                "true" => Ok(Test::Exists(true)),
                "false" => Ok(Test::Exists(false)),
                other => Err(format!("exists must be true or false, got {other:?}")),
            }),
        ]
        .into_iter()
        .flatten()
        .collect::<Result<_, String>>()?;
        if tests.len() > 1 {
            return Err("give one of equals, not-equals and exists".into());
        }
        let fail_on_invalid = match config.get("on-invalid") {
            None | Some("drop") => false,
            Some("fail") => true,
            Some(other) => return Err(format!("on-invalid must be drop or fail, got {other:?}")),
        };
        Ok(Self { field, test: tests.into_iter().next().unwrap_or(Test::Exists(true)), fail_on_invalid })
    }

    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
        match json::parse(record.value) {
            Ok(value) if self.keeps(&value) => out.push(Output::forward(record)),
            Ok(_) => {}
            Err(e) if self.fail_on_invalid => return Err(e),
            Err(_) => {}
        }
        Ok(())
    }
}

fjord_plugin_sdk::transform!(JsonFilter);

#[cfg(test)]
mod tests {
    use super::JsonFilter;
    use fjord_plugin_sdk::testing::run;

    const ORDERS: [&str; 4] = [
        r#"{"id":1,"user":{"country":"NO"},"total":10}"#,
        r#"{"id":2,"user":{"country":"SE"},"total":20}"#,
        r#"{"id":3,"user":{},"total":30}"#,
        "not json",
    ];

    fn kept(config: &[(&str, &str)]) -> Vec<String> {
        run::<JsonFilter>(config, ORDERS).unwrap().iter().map(|o| o.value_str().unwrap().to_string()).collect()
    }

    #[test]
    fn equals_not_equals_and_exists_select_by_a_nested_field() {
        assert_eq!(kept(&[("field", "user.country"), ("equals", "NO")]), [ORDERS[0]]);
        assert_eq!(kept(&[("field", "user.country"), ("not-equals", "NO")]), [ORDERS[1], ORDERS[2]]);
        assert_eq!(kept(&[("field", "user.country")]), [ORDERS[0], ORDERS[1]]);
        assert_eq!(kept(&[("field", "user.country"), ("exists", "false")]), [ORDERS[2]]);
        assert_eq!(kept(&[("field", "total"), ("equals", "20")]), [ORDERS[1]], "numbers compare by their JSON text");
    }

    #[test]
    fn invalid_json_is_dropped_or_fails_the_record_as_configured() {
        let error = run::<JsonFilter>(&[("field", "id"), ("on-invalid", "fail")], ORDERS).unwrap_err();
        assert!(error.contains("offset 3") && error.contains("not JSON"), "{error}");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(run::<JsonFilter>(&[], ["{}"]).unwrap_err().contains("field"));
        assert!(run::<JsonFilter>(&[("field", "a"), ("equals", "1"), ("exists", "true")], ["{}"]).unwrap_err().contains("one of"));
        assert!(run::<JsonFilter>(&[("field", "a"), ("colour", "red")], ["{}"]).unwrap_err().contains("unknown setting"));
    }
}
