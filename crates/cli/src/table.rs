//! Docker's tabular output: Go's `text/tabwriter` with the CLI's settings
//! (min width 10, padding 3), `--format "table ..."` headers, and the
//! human time and size units the tables use.

/// Lays out rows like tabwriter(minwidth 10, tabwidth 1, padding 3): every
/// cell but the last of a row is padded to its column's width.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Splits each rendered line at tabs, then lays them out as a table.
pub fn render_tabbed(lines: &[String]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    render(&rows)
}

/// `units.HumanSizeWithPrecision(n, 3)`: decimal units, three significant
/// digits (`4.26MB`).
pub fn human_size3(n: f64) -> String {
    api::progress::format_units(n, 1000.0, &api::progress::DECIMAL_UNITS, 3)
}

/// Shortens an id the way Docker shows it: without `sha256:`, 12 chars.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_like_tabwriter() {
        let out = render(&[
            vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()],
            vec!["busybox".into(), "latest".into(), "4.26MB".into()],
        ]);
        assert_eq!(
            out,
            "REPOSITORY   TAG       SIZE\nbusybox      latest    4.26MB\n"
        );
    }

    #[test]
    fn sizes_use_three_significant_digits() {
        assert_eq!(human_size3(4_261_234.0), "4.26MB");
        assert_eq!(human_size3(1_000.0), "1kB");
        assert_eq!(human_size3(0.0), "0B");
        assert_eq!(human_size3(123_456_789.0), "123MB");
    }

    #[test]
    fn ids_are_shortened() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
