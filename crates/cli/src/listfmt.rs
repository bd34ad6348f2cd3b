//! `--format` for list commands: `table` templates with Docker's headers,
//! plain templates, and `{{json .}}`, over one JSON object per row.

use serde_json::Value;

use crate::format::{self, FormatError};
use crate::table;

/// Renders `rows` with `template` (`table ...` or plain). `headers` maps
/// each field to its column title, for `table` templates.
pub fn render(
    template: &str,
    rows: &[Value],
    headers: &[(&str, &str)],
) -> Result<String, FormatError> {
    let (is_table, body) = match template.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, template.to_string()),
    };
    // Docker lets users write `\t` in a format for a tab.
    let body = body.replace("\\t", "\t");
    let mut lines = Vec::new();
    if is_table {
        let hdr: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        lines.push(format::render(&body, &Value::Object(hdr))?);
    }
    for r in rows {
        lines.push(format::render(&body, r)?);
    }
    if is_table {
        Ok(table::render_tabbed(&lines))
    } else {
        let mut s = lines.join("\n");
        if !lines.is_empty() {
            s.push('\n');
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_templates_get_headers() {
        let rows = vec![json!({"ID": "abc", "Tag": "latest"})];
        let out = render(
            "table {{.ID}}\t{{.Tag}}",
            &rows,
            &[("ID", "IMAGE ID"), ("Tag", "TAG")],
        )
        .unwrap();
        assert_eq!(out, "IMAGE ID   TAG\nabc        latest\n");
    }

    #[test]
    fn plain_templates_render_each_row() {
        let rows = vec![json!({"ID": "a"}), json!({"ID": "b"})];
        assert_eq!(render("{{.ID}}", &rows, &[]).unwrap(), "a\nb\n");
        assert_eq!(render("{{.ID}}", &[], &[]).unwrap(), "");
    }
}
