//! `--format`: Go templates as the Docker CLI renders them, on the JSON
//! shape of the API answer, with Docker's template functions.

use gtmpl_value::{FuncError, Number, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: {0}")]
    Exec(String),
}

/// Fields that are Go maps in Docker's types (not structs): a missing key
/// in them renders `<no value>`, as in Go, instead of failing the
/// template the way a missing struct field does.
const GO_MAPS: &[&str] = &[
    "Attributes",
    "Labels",
    "Options",
    "DriverOpts",
    "Networks",
    "Ports",
    "Containers",
    "Status",
    "UsageData",
    "Annotations",
];

/// serde_json → template value.
pub fn to_value(v: &serde_json::Value) -> Value {
    to_value_in(v, false)
}

fn to_value_in(v: &serde_json::Value, go_map: bool) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(0.0)))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            let m = o
                .iter()
                .map(|(k, v)| (k.clone(), to_value_in(v, GO_MAPS.contains(&k.as_str()))))
                .collect::<HashMap<_, _>>();
            if go_map {
                Value::Map(m)
            } else {
                Value::Object(m)
            }
        }
    }
}

/// template value → serde_json, for the `json` function.
fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
    }
}

fn one_string(name: &str, args: &[Value]) -> Result<String, FuncError> {
    match args {
        [Value::String(s)] => Ok(s.clone()),
        [other] => Ok(other.to_string()),
        _ => Err(FuncError::ExactlyXArgs(name.to_string(), 1)),
    }
}

fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [v] => Ok(Value::String(
            serde_json::to_string(&to_json(v)).map_err(|e| FuncError::Generic(e.to_string()))?,
        )),
        _ => Err(FuncError::ExactlyXArgs("json".into(), 1)),
    }
}

fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(one_string("upper", args)?.to_uppercase()))
}

fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(one_string("lower", args)?.to_lowercase()))
}

fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    let s = one_string("title", args)?;
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    Ok(Value::String(out))
}

fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::String(s), Value::String(sep)] => Ok(Value::Array(
            s.split(sep.as_str())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        )),
        _ => Err(FuncError::ExactlyXArgs("split".into(), 2)),
    }
}

fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::Array(a), Value::String(sep)] => Ok(Value::String(
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(sep),
        )),
        _ => Err(FuncError::ExactlyXArgs("join".into(), 2)),
    }
}

fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::String(s), Value::Number(n)] => {
            let n = n.as_u64().unwrap_or(0) as usize;
            Ok(Value::String(s.chars().take(n).collect()))
        }
        _ => Err(FuncError::ExactlyXArgs("truncate".into(), 2)),
    }
}

/// `label MAP "key"`: the value, or "" when the key is missing (backs
/// `ps`'s `{{.Label "key"}}`).
fn f_label(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::Object(m) | Value::Map(m), Value::String(k)] => {
            Ok(m.get(k).cloned().unwrap_or(Value::String(String::new())))
        }
        [Value::Nil | Value::NoValue, _] => Ok(Value::String(String::new())),
        _ => Err(FuncError::ExactlyXArgs("label".into(), 2)),
    }
}

/// JSON with Docker's four-space indentation (`inspect` output).
pub fn pretty(v: &serde_json::Value) -> Result<String, FormatError> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)
        .map_err(|e| FormatError::Exec(e.to_string()))?;
    String::from_utf8(buf).map_err(|e| FormatError::Exec(e.to_string()))
}

/// Go's `json.Indent` with four spaces: re-indents JSON text keeping its
/// key order (docker's `inspect` shows the daemon's JSON this way).
/// Empty objects and arrays stay `{}` and `[]`.
pub fn indent_raw(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let mut need_indent = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(b"    ");
        }
    };
    for &b in raw {
        if in_str {
            out.push(b);
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if need_indent && b != b']' && b != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match b {
            b'"' => {
                in_str = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                need_indent = true;
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    // Empty: stay compact.
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Renders `template` against `data`. A trailing newline is added as the
/// Docker CLI does for single-object formats.
pub fn render(template: &str, data: &serde_json::Value) -> Result<String, FormatError> {
    let mut t = gtmpl::Template::default();
    t.add_funcs(&[
        ("json", f_json as gtmpl_value::Func),
        ("upper", f_upper as gtmpl_value::Func),
        ("lower", f_lower as gtmpl_value::Func),
        ("title", f_title as gtmpl_value::Func),
        ("split", f_split as gtmpl_value::Func),
        ("join", f_join as gtmpl_value::Func),
        ("truncate", f_truncate as gtmpl_value::Func),
        ("label", f_label as gtmpl_value::Func),
    ]);
    t.parse(template)
        .map_err(|e| FormatError::Parse(e.to_string()))?;
    let ctx = gtmpl::Context::from(to_value(data));
    t.render(&ctx).map_err(|e| FormatError::Exec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_render() {
        let d = json!({"Server": {"Version": "20.10.44", "ApiVersion": "1.41"}});
        assert_eq!(render("{{.Server.Version}}", &d).unwrap(), "20.10.44");
        assert_eq!(render("{{.Server.ApiVersion}} x", &d).unwrap(), "1.41 x");
    }

    #[test]
    fn json_function_renders_objects() {
        let d = json!({"A": {"b": 1, "a": [true, null]}});
        assert_eq!(
            render("{{json .A}}", &d).unwrap(),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn string_functions() {
        let d = json!({"S": "a,b"});
        assert_eq!(render("{{upper .S}}", &d).unwrap(), "A,B");
        assert_eq!(
            render("{{join (split .S \",\") \"-\"}}", &d).unwrap(),
            "a-b"
        );
        assert_eq!(
            render("{{title \"hello world\"}}", &d).unwrap(),
            "Hello World"
        );
    }

    #[test]
    fn raw_json_is_indented_like_go_keeping_key_order() {
        assert_eq!(
            indent_raw(br#"[{"b":1,"a":[],"c":{},"d":[1,"x, y: {"],"e":{"f":null}}]"#),
            "[\n    {\n        \"b\": 1,\n        \"a\": [],\n        \"c\": {},\n        \"d\": [\n            1,\n            \"x, y: {\"\n        ],\n        \"e\": {\n            \"f\": null\n        }\n    }\n]"
        );
    }

    #[test]
    fn missing_map_keys_render_no_value_like_go() {
        let ev = json!({"Type": "volume", "Actor": {"ID": "v", "Attributes": {"driver": "local"}}});
        assert_eq!(
            render(
                "{{.Type}} {{.Actor.Attributes.driver}} {{.Actor.Attributes.name}}",
                &ev
            )
            .unwrap(),
            "volume local <no value>"
        );
        assert!(
            render("{{.Actor.Missing}}", &ev).is_err(),
            "structs stay strict"
        );
    }

    #[test]
    fn bad_templates_are_errors() {
        assert!(matches!(
            render("{{.A", &json!({})),
            Err(FormatError::Parse(_))
        ));
    }
}
