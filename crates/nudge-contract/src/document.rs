//! The contract as text: reading a YAML or JSON document through [`parse`] (repeated keys
//! refused), and writing one back (`kind: contract`, `format: 1`, keys in a fixed order, names
//! sorted) that parses to the same contract. Serde's `Serialize` and `Deserialize` speak the
//! same document, so the App API and files agree.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{AdditionalProperties, Contract, Property, Schema, Section};
use crate::parse::{parse, ContractError, FORMAT};
use crate::strict::Strict;

impl Contract {
    /// A contract from YAML text (one document). Syntax errors name their line.
    pub fn from_yaml(text: &str) -> Result<Contract, ContractError> {
        let Strict(value) = serde_norway::from_str(text).map_err(|e| ContractError {
            pointer: String::new(),
            message: format!("not valid YAML: {e}"),
        })?;
        parse(&value)
    }

    /// A contract from JSON text.
    pub fn from_json(text: &str) -> Result<Contract, ContractError> {
        let Strict(value) = serde_json::from_str(text).map_err(|e| ContractError {
            pointer: String::new(),
            message: format!("not valid JSON: {e}"),
        })?;
        parse(&value)
    }

    /// The contract as a YAML document that [`Contract::from_yaml`] reads back unchanged.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("a contract always serialises")
    }

    /// The contract as the JSON document the App API speaks.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a contract always serialises")
    }
}

impl Serialize for Contract {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", "contract")?;
        map.serialize_entry("format", &FORMAT)?;
        map.serialize_entry("mode", &self.mode)?;
        if !self.events.is_empty() {
            let events: Vec<(&String, SectionOut<'_>)> = self
                .events
                .iter()
                .map(|(name, section)| {
                    (
                        name,
                        SectionOut {
                            section,
                            properties_key: "properties",
                        },
                    )
                })
                .collect();
            map.serialize_entry("events", &Ordered(&events))?;
        }
        if self.person != Section::default() {
            map.serialize_entry(
                "person",
                &SectionOut {
                    section: &self.person,
                    properties_key: "attributes",
                },
            )?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Contract {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Strict(value) = Strict::deserialize(deserializer)?;
        parse(&value).map_err(serde::de::Error::custom)
    }
}

/// Pairs written as a map in the order given.
struct Ordered<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for Ordered<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

struct SectionOut<'a> {
    section: &'a Section,
    properties_key: &'static str,
}

impl Serialize for SectionOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let section = self.section;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("version", &section.version)?;
        if let Some(description) = &section.description {
            map.serialize_entry("description", description)?;
        }
        if let Some(mode) = section.mode {
            map.serialize_entry("mode", &mode)?;
        }
        if section.additional_properties != AdditionalProperties::Allow {
            map.serialize_entry("additional_properties", &section.additional_properties)?;
        }
        if !section.properties.is_empty() {
            map.serialize_entry(self.properties_key, &section.properties)?;
        }
        map.end()
    }
}

impl Serialize for Property {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.schema.type_name())?;
        map.serialize_entry("required", &self.required)?;
        if let Some(description) = &self.description {
            map.serialize_entry("description", description)?;
        }
        type_keywords(&self.schema, &mut map)?;
        map.end()
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.type_name())?;
        type_keywords(self, &mut map)?;
        map.end()
    }
}

/// `format`, `enum`, `properties` and `items`, where the schema has them.
fn type_keywords<M: SerializeMap>(schema: &Schema, map: &mut M) -> Result<(), M::Error> {
    match schema {
        Schema::String {
            format: Some(format),
            ..
        } => map.serialize_entry("format", format.name())?,
        Schema::Object { properties } if !properties.is_empty() => {
            map.serialize_entry("properties", properties)?;
        }
        Schema::Array { items: Some(items) } => map.serialize_entry("items", items)?,
        _ => {}
    }
    if let Some(values) = schema.values() {
        map.serialize_entry("enum", &values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r##"
format: 1
kind: contract
mode: quarantine
events:
  Order Completed:
    version: 3
    description: The purchase.
    mode: reject
    additional_properties: flag
    properties:
      order_id: {type: string, required: true}
      status: {type: string, enum: [paid, "yes", "1"]}
      at: {type: string, format: date-time}
      count: {type: integer, enum: [1, 2]}
      ratio: {type: number, enum: [0.5, 2]}
      items:
        type: array
        required: true
        items:
          type: object
          properties:
            price: {type: number, required: true, description: "Unit price: in the store's currency"}
            tags: {type: array, items: {type: string}}
      extra: {type: object}
  "#: hash":
    version: 1
person:
  version: 2
  additional_properties: flag
  attributes:
    email: {type: string, required: true}
    accepts_sms: {type: boolean}
"##;

    #[test]
    fn yaml_round_trips_to_the_same_contract() {
        let contract = Contract::from_yaml(SAMPLE).unwrap();
        let written = contract.to_yaml();
        assert_eq!(
            Contract::from_yaml(&written).unwrap(),
            contract,
            "{written}"
        );
        assert!(written.starts_with("kind: contract\nformat: 1\nmode: quarantine\n"));
        let json = contract.to_json();
        assert_eq!(parse(&json).unwrap(), contract);
        let through_serde: Contract = serde_json::from_value(json).unwrap();
        assert_eq!(through_serde, contract);
    }

    #[test]
    fn written_files_are_stable_and_sorted() {
        let contract = Contract::from_yaml(SAMPLE).unwrap();
        let written = contract.to_yaml();
        assert_eq!(Contract::from_yaml(&written).unwrap().to_yaml(), written);
        let hash = written.find("'#: hash'").expect("the odd name is quoted");
        assert!(hash < written.find("Order Completed").unwrap());
        let items = written.find("  items:").unwrap();
        assert!(
            written.find("  at:").unwrap() < items && items < written.find("order_id").unwrap()
        );
    }

    #[test]
    fn defaults_are_left_out_and_read_back() {
        let contract = Contract::from_yaml("format: 1\nevents:\n  Viewed: {}\n").unwrap();
        assert_eq!(
            contract.to_yaml(),
            "kind: contract\nformat: 1\nmode: allow\nevents:\n  Viewed:\n    version: 1\n"
        );
        assert_eq!(
            Contract::default().to_yaml(),
            "kind: contract\nformat: 1\nmode: allow\n"
        );
    }

    #[test]
    fn text_errors_say_where() {
        let yaml = Contract::from_yaml("format: 1\nevents: [\n").unwrap_err();
        assert!(yaml.message.starts_with("not valid YAML"), "{yaml}");
        assert!(yaml.message.contains("line"), "{yaml}");
        let json = Contract::from_json("{\"format\": 1,").unwrap_err();
        assert!(json.message.starts_with("not valid JSON"), "{json}");
        let twice =
            Contract::from_yaml("format: 1\nevents:\n  A: {}\n  A: {version: 2}\n").unwrap_err();
        assert!(twice.message.contains("duplicate key 'A'"), "{twice}");
        assert!(
            twice
                .message
                .contains("events: duplicate key 'A' at line 3"),
            "{twice}"
        );
        let twice = serde_json::from_str::<Contract>(r#"{"format": 1, "format": 1}"#).unwrap_err();
        assert!(
            twice.to_string().contains("duplicate key 'format'"),
            "{twice}"
        );
        let deserialised = serde_json::from_str::<Contract>(r#"{"format": 1, "mode": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            deserialised.contains("/mode: mode is one of"),
            "{deserialised}"
        );
    }
}
