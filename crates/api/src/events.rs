//! `GET /events`: Docker's event message (`api/types/events.Message`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as Docker streams it (one JSON document per event).
///
/// `status`, `id` and `from` are the pre-1.22 fields Docker still sends for
/// container and image events; they are absent for the other types.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(rename = "Action", default)]
    pub action: String,
    #[serde(rename = "Actor", default)]
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_dockers_field_names() {
        let m = Message {
            status: "start".into(),
            id: "abc".into(),
            from: "busybox".into(),
            kind: "container".into(),
            action: "start".into(),
            actor: Actor {
                id: "abc".into(),
                attributes: [("name".to_string(), "x".to_string())].into(),
            },
            scope: "local".into(),
            time: 1,
            time_nano: 1_000_000_001,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Actor"]["Attributes"]["name"], "x");
        assert_eq!(v["timeNano"], 1_000_000_001i64);
        let net = Message {
            kind: "network".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&net).unwrap();
        assert!(v.get("status").is_none() && v.get("id").is_none());
        let back: Message = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
