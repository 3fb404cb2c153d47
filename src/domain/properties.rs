//! Contact properties: the free-form CRM fields (`plan`, `company_size`, answers a bot saved).
//!
//! Names are short snake_case words so they work as template variables and report columns;
//! values are scalars so every property can be shown, filtered and exported as one cell.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::InvalidValue;

/// Most properties one contact may carry.
pub const MAX_PROPERTIES: usize = 100;
/// Longest property name, in characters.
pub const MAX_PROPERTY_NAME_CHARS: usize = 64;
/// Longest text value of a property, in characters.
pub const MAX_PROPERTY_TEXT_CHARS: usize = 1000;

/// Properties as a client sent them: names checked, values scalar (text, number, true/false or
/// null). A `null` value means "remove this property" in a change and is dropped on creation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct Properties(Map<String, Value>);

impl Properties {
    pub fn parse(map: Map<String, Value>) -> Result<Self, InvalidValue> {
        if map.len() > MAX_PROPERTIES {
            return Err(too_many());
        }
        for (name, value) in &map {
            check_property_name(name)?;
            check_value(value).map_err(|e| InvalidValue::new(format!("'{name}': {e}")))?;
        }
        Ok(Self(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    /// Every entry, `null`s included (a change removes those).
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// The entries with a value (what a new contact stores).
    pub fn into_values(self) -> Map<String, Value> {
        self.0.into_iter().filter(|(_, v)| !v.is_null()).collect()
    }
}

fn too_many() -> InvalidValue {
    InvalidValue::new(format!(
        "a contact may have at most {MAX_PROPERTIES} properties"
    ))
}

/// Checks a property name: 1 to 64 characters of `a-z`, `0-9` and `_`.
pub fn check_property_name(name: &str) -> Result<(), InvalidValue> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_PROPERTY_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::new(format!(
            "property name '{name}' must be 1 to {MAX_PROPERTY_NAME_CHARS} characters of a-z, 0-9 and _"
        )))
    }
}

fn check_value(value: &Value) -> Result<(), InvalidValue> {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        Value::String(s) if s.chars().count() <= MAX_PROPERTY_TEXT_CHARS => Ok(()),
        Value::String(_) => Err(InvalidValue::new(format!(
            "a property value must be at most {MAX_PROPERTY_TEXT_CHARS} characters"
        ))),
        Value::Array(_) | Value::Object(_) => Err(InvalidValue::new(
            "a property value must be text, a number, true/false or null",
        )),
    }
}

/// One value, checked while it is read so that a bad one is reported at its own path
/// (`properties.plan`) rather than at the whole object.
struct ScalarValue(Value);

impl<'de> Deserialize<'de> for ScalarValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        check_value(&value).map_err(de::Error::custom)?;
        Ok(Self(value))
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PropertiesVisitor;

        impl<'de> Visitor<'de> for PropertiesVisitor {
            type Value = Properties;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of properties")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Properties, A::Error> {
                let mut map = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    check_property_name(&name).map_err(de::Error::custom)?;
                    let ScalarValue(value) = access.next_value()?;
                    map.insert(name, value);
                    if map.len() > MAX_PROPERTIES {
                        return Err(de::Error::custom(too_many()));
                    }
                }
                Ok(Properties(map))
            }
        }

        d.deserialize_map(PropertiesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Properties, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_scalar_values_under_snake_case_names() {
        let p = parse(json!({"plan": "pro", "seats": 12, "trial": false, "old": null}));
        assert_eq!(p.map(|p| p.into_values().len()), Ok(3));
    }

    #[test]
    fn refuses_bad_names_nested_values_long_text_and_too_many() {
        let many: Map<String, Value> = (0..=MAX_PROPERTIES)
            .map(|i| (format!("k{i}"), json!(1)))
            .collect();
        let cases = [
            ("capital letter", json!({"Plan": 1})),
            ("empty name", json!({"": 1})),
            ("long name", json!({"a".repeat(65): 1})),
            ("object value", json!({"plan": {"a": 1}})),
            ("array value", json!({"plan": [1]})),
            ("long text", json!({"plan": "x".repeat(1001)})),
            ("too many", Value::Object(many)),
            ("not an object", json!([1])),
        ];
        for (case, value) in cases {
            assert!(parse(value).is_err(), "{case} was accepted");
        }
        assert!(parse(json!({"a".repeat(64): "x".repeat(1000)})).is_ok());
    }
}
