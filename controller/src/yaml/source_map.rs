//! Field path → line number for one YAML document, built from the parser's events.
//!
//! serde-saphyr reports a location for syntax errors, but the errors we find later (unknown
//! compose keys, dangling references, cycles) are about values that were already decoded. The
//! map lets any of them name the line of the offending key.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

use super::{FieldPath, Segment};

#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    lines: HashMap<FieldPath, usize>,
    /// Line of the document's first node.
    start_line: usize,
}

enum Frame {
    Map {
        path: FieldPath,
        key: Option<String>,
    },
    Seq {
        path: FieldPath,
        next: usize,
    },
    /// A complex (non-scalar) mapping key: we don't track paths inside it.
    Skip {
        depth: usize,
    },
}

impl SourceMap {
    /// The line of `path`, or of its nearest recorded ancestor.
    pub fn line_of(&self, path: &FieldPath) -> Option<usize> {
        let mut segs = path.0.clone();
        loop {
            if let Some(line) = self.lines.get(&FieldPath(segs.clone())) {
                return Some(*line);
            }
            if segs.pop().is_none() {
                return if self.start_line > 0 {
                    Some(self.start_line)
                } else {
                    None
                };
            }
        }
    }

    /// The first line of the document.
    pub fn start_line(&self) -> usize {
        self.start_line
    }

    /// One map per document in `src`. Returns an empty vector if the text does not parse;
    /// the caller reports the parse error from serde-saphyr, which has the better message.
    pub fn build_all(src: &str) -> Vec<SourceMap> {
        let mut maps = Vec::new();
        let mut current: Option<SourceMap> = None;
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(src) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            match event {
                Event::DocumentStart(..) => {
                    current = Some(SourceMap::default());
                    stack.clear();
                }
                Event::DocumentEnd => {
                    if let Some(m) = current.take() {
                        maps.push(m);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let Some(map) = current.as_mut() else { continue };
                    if let Some(Frame::Skip { depth }) = stack.last_mut() {
                        *depth += 1;
                        continue;
                    }
                    let is_map = matches!(event, Event::MappingStart(..));
                    match place_node(&mut stack, map, line, None) {
                        Placed::Value(path) => stack.push(if is_map {
                            Frame::Map { path, key: None }
                        } else {
                            Frame::Seq { path, next: 0 }
                        }),
                        Placed::Key => stack.push(Frame::Skip { depth: 1 }),
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(Frame::Skip { depth }) = stack.last_mut() {
                        *depth -= 1;
                        if *depth == 0 {
                            stack.pop();
                        }
                        continue;
                    }
                    stack.pop();
                }
                Event::Scalar(text, ..) => {
                    let Some(map) = current.as_mut() else { continue };
                    if matches!(stack.last(), Some(Frame::Skip { .. })) {
                        continue;
                    }
                    place_node(&mut stack, map, line, Some(text.as_ref()));
                }
                Event::Alias(..) => {
                    let Some(map) = current.as_mut() else { continue };
                    if matches!(stack.last(), Some(Frame::Skip { .. })) {
                        continue;
                    }
                    place_node(&mut stack, map, line, Some("*alias"));
                }
                _ => {}
            }
        }
        if let Some(m) = current.take() {
            maps.push(m);
        }
        maps
    }
}

enum Placed {
    Key,
    Value(FieldPath),
}

/// Records a node that starts on `line` and returns what it is in its parent.
fn place_node(stack: &mut [Frame], map: &mut SourceMap, line: usize, scalar: Option<&str>) -> Placed {
    if map.start_line == 0 {
        map.start_line = line;
    }
    match stack.last_mut() {
        None => Placed::Value(FieldPath::root()),
        Some(Frame::Map { path, key }) => match key.take() {
            None => {
                let k = scalar.unwrap_or("?").to_string();
                let full = path.key(k.clone());
                map.lines.entry(full).or_insert(line);
                *key = Some(k);
                Placed::Key
            }
            Some(k) => {
                let full = path.key(k);
                map.lines.entry(full.clone()).or_insert(line);
                Placed::Value(full)
            }
        },
        Some(Frame::Seq { path, next }) => {
            let full = path.index(*next);
            *next += 1;
            map.lines.entry(full.clone()).or_insert(line);
            Placed::Value(full)
        }
        Some(Frame::Skip { .. }) => Placed::Value(FieldPath(vec![Segment::Root])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keys_and_items_to_lines() {
        let src =
            "a: 1\nservices:\n  web:\n    image: x\n    ports:\n      - 80\n      - 81\n---\nkind: Stack\n";
        let maps = SourceMap::build_all(src);
        assert_eq!(maps.len(), 2);
        let p = FieldPath::parse("services.web.ports").index(1);
        assert_eq!(maps[0].line_of(&p), Some(7));
        assert_eq!(maps[0].line_of(&FieldPath::parse("services.web.image")), Some(4));
        // unknown paths fall back to the nearest ancestor
        assert_eq!(maps[0].line_of(&FieldPath::parse("services.web.nope")), Some(3));
        assert_eq!(maps[1].line_of(&FieldPath::parse("kind")), Some(9));
    }
}
