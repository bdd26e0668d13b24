//! `route-by-field`: sends each record to a topic chosen by a field of its JSON value.
//!
//! Settings: `field` (required, a dotted path); `route.<value>=<topic>` for each value to route
//! (e.g. `route.EU=orders-eu`); `default` (a topic for the other values; without it they go to
//! the deployment's output topic); `prefix` (instead of routes: the topic is `<prefix><value>`,
//! e.g. `prefix=orders-` sends `"EU"` to `orders-EU`). A record whose value is not JSON or
//! lacks the field goes to `default` (or the output topic).

use std::collections::BTreeMap;

use fjord_plugin_sdk::json::{self, Value};
use fjord_plugin_sdk::{Config, Output, Record, Transform};

/// The router.
pub struct RouteByField {
    field: String,
    routes: BTreeMap<String, String>,
    prefix: Option<String>,
    default: Option<String>,
}

/// Kafka's topic-name rule: 1–249 of `[a-zA-Z0-9._-]`.
fn valid_topic(name: &str) -> bool {
    (1..=249).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Transform for RouteByField {
    fn init(config: &Config) -> Result<Self, String> {
        let mut routes = BTreeMap::new();
        for (key, value) in config.entries() {
            match key.strip_prefix("route.") {
                Some(field_value) => {
                    if !valid_topic(value) {
                        return Err(format!("{key}: {value:?} is not a valid topic name"));
                    }
                    routes.insert(field_value.to_string(), value.clone());
                }
                None if matches!(key.as_str(), "field" | "default" | "prefix") => {}
                None => return Err(format!("unknown setting {key:?}; route-by-field takes field, route.<value>, default and prefix")),
            }
        }
        let prefix = config.get("prefix").map(str::to_string);
        if prefix.is_some() && !routes.is_empty() {
            return Err("give either route.<value> settings or a prefix, not both".into());
        }
        if prefix.is_none() && routes.is_empty() {
            return Err("give route.<value>=<topic> settings (e.g. route.EU=orders-eu) or prefix".into());
        }
        let default = config.get("default").map(str::to_string);
        if let Some(d) = default.as_deref().filter(|d| !valid_topic(d)) {
            return Err(format!("default: {d:?} is not a valid topic name"));
        }
        Ok(Self { field: config.require("field")?.to_string(), routes, prefix, default })
    }

    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
        let chosen = json::parse(record.value).ok().and_then(|value| {
            let found = json::field(&value, &self.field)?;
            let text = match found {
                Value::String(s) => s.clone(),
                Value::Null => return None,
                other => other.to_string(),
            };
            match &self.prefix {
                Some(prefix) => Some(format!("{prefix}{text}")).filter(|t| valid_topic(t)),
                None => self.routes.get(&text).cloned(),
            }
        });
        let output = Output::forward(record);
        out.push(match chosen.or_else(|| self.default.clone()) {
            Some(topic) => output.to_topic(topic),
            None => output,
        });
        Ok(())
    }
}

fjord_plugin_sdk::transform!(RouteByField);

#[cfg(test)]
mod tests {
    use super::RouteByField;
    use fjord_plugin_sdk::testing::run;

    const ORDERS: [&str; 4] = [r#"{"region":"EU"}"#, r#"{"region":"US"}"#, r#"{"region":"APAC"}"#, "not json"];

    fn topics(config: &[(&str, &str)]) -> Vec<Option<String>> {
        run::<RouteByField>(config, ORDERS).unwrap().into_iter().map(|o| o.topic.map(|t| t.into_owned())).collect()
    }

    #[test]
    fn routes_send_known_values_to_their_topics_and_the_rest_to_the_default() {
        let with_default = topics(&[("field", "region"), ("route.EU", "orders-eu"), ("route.US", "orders-us"), ("default", "orders-other")]);
        assert_eq!(with_default, [Some("orders-eu".into()), Some("orders-us".into()), Some("orders-other".into()), Some("orders-other".into())]);
        let without = topics(&[("field", "region"), ("route.EU", "orders-eu")]);
        assert_eq!(without, [Some("orders-eu".into()), None, None, None], "None: the deployment's output topic");
    }

    #[test]
    fn a_prefix_names_the_topic_after_the_value() {
        assert_eq!(topics(&[("field", "region"), ("prefix", "orders-")])[..3], [Some("orders-EU".into()), Some("orders-US".into()), Some("orders-APAC".into())]);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(run::<RouteByField>(&[("field", "r")], ["{}"]).unwrap_err().contains("route."));
        assert!(run::<RouteByField>(&[("field", "r"), ("route.EU", "bad topic!")], ["{}"]).unwrap_err().contains("not a valid topic"));
        assert!(run::<RouteByField>(&[("field", "r"), ("route.EU", "a"), ("prefix", "p-")], ["{}"]).unwrap_err().contains("not both"));
    }
}
