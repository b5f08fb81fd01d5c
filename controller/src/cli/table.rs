//! Plain kubectl-style tables: upper-case headers, left-aligned columns, three spaces
//! between them, no borders. And kubectl's short ages (`45s`, `3m`, `2h`, `4d`).

use std::time::Duration;

const GAP: &str = "   ";

/// Rows of cells under a header; rendered with every column as wide as its widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Column widths over the header and all rows.
    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(cell.chars().count());
                }
            }
        }
        w
    }

    /// The header and rows, each line ending in `\n`, without trailing spaces.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = format_row(&self.header, &widths);
        for row in &self.rows {
            out.push_str(&format_row(row, &widths));
        }
        out
    }

    /// Just the rows, padded to `widths` (for `-w`, where later rows must line up under
    /// the first table).
    pub fn render_rows(&self, widths: &[usize]) -> String {
        self.rows.iter().map(|r| format_row(r, widths)).collect()
    }
}

fn format_row(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str(GAP);
        }
        line.push_str(cell);
        if i + 1 < cells.len() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let mut line = line.trim_end().to_owned();
    line.push('\n');
    line
}

/// kubectl's short duration: `45s`, `3m`, `2h`, `4d`, `2y`.
pub fn short_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h", s / 3_600),
        86_400..31_536_000 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_with_three_space_gaps_and_no_trailing_space() {
        let mut t = Table::new(["NAME", "READY", "MESSAGE"]);
        t.push(["demo", "True", ""]);
        t.push(["pangolin-newt", "False", "container x is unhealthy"]);
        assert_eq!(
            t.render(),
            "NAME            READY   MESSAGE\n\
             demo            True\n\
             pangolin-newt   False   container x is unhealthy\n"
        );
    }

    #[test]
    fn rows_can_follow_earlier_widths() {
        let mut t = Table::new(["A", "B"]);
        t.push(["x", "y"]);
        assert_eq!(t.render_rows(&[5, 1]), "x       y\n");
    }

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(short_age(Duration::from_secs(45)), "45s");
        assert_eq!(short_age(Duration::from_secs(200)), "3m");
        assert_eq!(short_age(Duration::from_secs(2 * 3600 + 59)), "2h");
        assert_eq!(short_age(Duration::from_secs(4 * 86_400 + 7)), "4d");
        assert_eq!(short_age(Duration::from_secs(800 * 86_400)), "2y");
    }
}
