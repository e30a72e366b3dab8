//! Every error of a topology file in one run (`vpntrace validate`), in the order they
//! appear in the file.
//!
//! [`super::load`] stops at the first error, which is what `check` and `trace` print.
//! [`load_all`] goes on:
//! - A value serde refuses (a bad CIDR, an unknown field, a missing one) ends a
//!   deserialisation, so the file is read once more as a `serde_json::Value`, and the list
//!   element holding the fault is taken out and the rest deserialised again, until it
//!   deserialises; each error's path is given in the file's own indices.
//! - The elements taken out are then absent from lowering, which goes on after each
//!   error ([`super::lower_all`]); a reference to an element taken out is not reported
//!   again as dangling (its id is known, its values were at fault).
//!
//! A syntax error (the file is not JSON) stays one error with its line and column, and an
//! error outside any list (`cloud.vpc.id` of the wrong type) ends the collection there.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::{lower_with, parse, read_text, Model};
use crate::input::error::InputError;
use crate::input::Topology;

/// Collection stops after this many values serde refuses (each one deserialises the
/// file again); one more error then says so.
pub const MAX_VALUE_ERRORS: usize = 100;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `cloud.instances[0].ip`, as serde_path_to_error and lowering write paths.
fn format_path(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The steps of a path written by lowering (keys are plain words there); `None` for a
/// location that is not a JSON path (`line 3 column 5`, `byte 12`, empty).
fn parse_path(p: &str) -> Option<Vec<Seg>> {
    if p.is_empty() || p.contains(' ') {
        return None;
    }
    let mut segs = Vec::new();
    for part in p.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            segs.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(segs)
}

/// List elements taken out of the value, by the list's path in the file's indices.
#[derive(Default)]
struct Removed {
    lists: BTreeMap<Vec<Seg>, Vec<usize>>,
}

impl Removed {
    /// A path in the pruned value's indices → the same path in the file's.
    fn to_file(&self, segs: &[Seg]) -> Vec<Seg> {
        let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
        for seg in segs {
            let mapped = match seg {
                Seg::Index(cur) => {
                    let mut orig = *cur;
                    if let Some(gone) = self.lists.get(&out) {
                        // `gone` is sorted: each one at or before the index shifts it.
                        for &g in gone {
                            if g <= orig {
                                orig += 1;
                            }
                        }
                    }
                    Seg::Index(orig)
                }
                k => k.clone(),
            };
            out.push(mapped);
        }
        out
    }
    fn add(&mut self, list: Vec<Seg>, orig: usize) {
        let v = self.lists.entry(list).or_default();
        let at = v.partition_point(|&g| g < orig);
        v.insert(at, orig);
    }
}

/// Take out of `root` the innermost list element on `segs` (pruned indices). Returns the
/// element's position (list path and index, pruned) or `None` when the path crosses no
/// list or does not lead anywhere in `root`.
fn take_out(root: &mut Value, segs: &[Seg]) -> Option<(Vec<Seg>, usize, Value)> {
    let last = segs.iter().rposition(|s| matches!(s, Seg::Index(_)))?;
    let mut node = &mut *root;
    for seg in &segs[..last] {
        node = match seg {
            Seg::Key(k) => node.as_object_mut()?.get_mut(k)?,
            Seg::Index(i) => node.as_array_mut()?.get_mut(*i)?,
        };
    }
    let Seg::Index(i) = segs[last] else {
        return None;
    };
    let list = node.as_array_mut()?;
    if i >= list.len() {
        return None;
    }
    Some((segs[..last].to_vec(), i, list.remove(i)))
}

/// Read, parse and lower `path`, reporting every error found, in file order.
pub fn load_all(path: &Path) -> Result<Model, Vec<InputError>> {
    let name = path.display().to_string();
    let text = read_text(path, &name).map_err(|e| vec![e])?;
    let first = match parse(&name, &text) {
        Ok(topo) => {
            let errors = match lower_with(&name, &topo, &HashSet::new()) {
                Ok(m) => return Ok(m),
                Err(errors) => errors,
            };
            return Err(in_file_order(&text, errors));
        }
        Err(e) => e,
    };
    // Only a value at a JSON path can be taken out and the rest read on.
    if parse_path(&first.location).is_none() || first.location == "format" {
        return Err(vec![first]);
    }
    let Ok(mut value) = serde_json::from_str::<Value>(&text) else {
        return Err(vec![first]);
    };
    let mut errors = Vec::new();
    let mut removed = Removed::default();
    // Ids and names of the elements taken out: references to them are not dangling.
    let mut unparsed: HashSet<String> = HashSet::new();
    let topo = loop {
        let e = match serde_path_to_error::deserialize::<_, Topology>(&value) {
            Ok(t) => break Some(t),
            Err(e) => e,
        };
        if errors.len() == MAX_VALUE_ERRORS {
            errors.push(InputError::new(
                &name,
                "",
                format!("stopped after {MAX_VALUE_ERRORS} values that do not parse; fix these and run again"),
            ));
            break None;
        }
        let segs: Option<Vec<Seg>> = e
            .path()
            .iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let Some(segs) = segs else {
            break None;
        };
        let in_file = removed.to_file(&segs);
        let inner = e.into_inner();
        errors.push(InputError::new(
            &name,
            format_path(&in_file),
            super::strip_position(&inner.to_string()),
        ));
        let Some((list, i, gone)) = take_out(&mut value, &segs) else {
            break None;
        };
        for key in ["id", "name"] {
            if let Some(s) = gone.get(key).and_then(Value::as_str) {
                unparsed.insert(s.to_string());
            }
        }
        let orig = match removed
            .to_file(&[list.clone(), vec![Seg::Index(i)]].concat())
            .pop()
        {
            Some(Seg::Index(o)) => o,
            _ => i,
        };
        let list_in_file = removed.to_file(&list);
        removed.add(list_in_file, orig);
    };
    // The error `check` and `trace` print stays exactly as they print it (read from the
    // text, its message could differ in a detail from the one read from the value).
    match errors.iter().position(|e| e.location == first.location) {
        Some(k) => errors[k] = first,
        None => errors.insert(0, first),
    }
    if let Some(topo) = topo.filter(|t| t.format == 1) {
        if let Err(more) = lower_with(&name, &topo, &unparsed) {
            for mut e in more {
                if let Some(segs) = parse_path(&e.location) {
                    let in_file = removed.to_file(&segs);
                    // "expected at least one …" of a list emptied here is not news.
                    if removed.lists.contains_key(&in_file) {
                        continue;
                    }
                    e.location = format_path(&in_file);
                }
                errors.push(e);
            }
        }
    }
    Err(in_file_order(&text, errors))
}

/// Sort errors by where their path is in the text (stable: errors at one place keep
/// the order they were found in). Locations that are not paths come first.
fn in_file_order(text: &str, errors: Vec<InputError>) -> Vec<InputError> {
    let mut keyed: Vec<(usize, InputError)> = errors
        .into_iter()
        .map(|e| {
            let at = parse_path(&e.location)
                .and_then(|segs| offset_of(text, &segs))
                .unwrap_or(0);
            (at, e)
        })
        .collect();
    keyed.sort_by_key(|(at, _)| *at);
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// The byte offset in `text` (a JSON document) where the value at `segs` starts, or
/// where the deepest step of it that exists does. Scans without recursion.
fn offset_of(text: &str, segs: &[Seg]) -> Option<usize> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    for seg in segs {
        match (seg, b.get(pos)) {
            (Seg::Key(k), Some(b'{')) => {
                pos = skip_ws(b, pos + 1);
                loop {
                    if b.get(pos) != Some(&b'"') {
                        return Some(pos);
                    }
                    let end = skip_string(b, pos)?;
                    let key = serde_json::from_str::<String>(text.get(pos..end)?).ok()?;
                    pos = skip_ws(b, end);
                    if b.get(pos) != Some(&b':') {
                        return Some(pos);
                    }
                    pos = skip_ws(b, pos + 1);
                    if key == *k {
                        break;
                    }
                    pos = skip_ws(b, skip_value(b, pos)?);
                    if b.get(pos) == Some(&b',') {
                        pos = skip_ws(b, pos + 1);
                    }
                }
            }
            (Seg::Index(i), Some(b'[')) => {
                pos = skip_ws(b, pos + 1);
                for _ in 0..*i {
                    pos = skip_ws(b, skip_value(b, pos)?);
                    if b.get(pos) != Some(&b',') {
                        return Some(pos);
                    }
                    pos = skip_ws(b, pos + 1);
                }
            }
            _ => return Some(pos),
        }
    }
    Some(pos)
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        pos += 1;
    }
    pos
}

/// `pos` at a `"`: the position after the closing one.
fn skip_string(b: &[u8], mut pos: usize) -> Option<usize> {
    pos += 1;
    loop {
        match b.get(pos)? {
            b'\\' => pos += 2,
            b'"' => return Some(pos + 1),
            _ => pos += 1,
        }
    }
}

/// The position after the value starting at `pos` (nesting counted, not recursed).
fn skip_value(b: &[u8], mut pos: usize) -> Option<usize> {
    match b.get(pos)? {
        b'"' => skip_string(b, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b.get(pos)? {
                    b'"' => pos = skip_string(b, pos)?,
                    b'{' | b'[' => {
                        depth += 1;
                        pos += 1;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        pos += 1;
                        if depth == 0 {
                            return Some(pos);
                        }
                    }
                    _ => pos += 1,
                }
            }
        }
        _ => {
            while let Some(c) = b.get(pos) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                pos += 1;
            }
            Some(pos)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for p in [
            "cloud.instances[0].ip",
            "onprem.devices[2].filter.input.rules[10]",
        ] {
            assert_eq!(format_path(&parse_path(p).unwrap()), p);
        }
        assert!(parse_path("line 3 column 4").is_none());
    }

    #[test]
    fn offsets_follow_the_file() {
        let t = r#"{"b": [1, {"x": "a,]"}, [3]], "a": {"c": 2}}"#;
        let at = |p: &str| offset_of(t, &parse_path(p).unwrap()).unwrap();
        assert_eq!(&t[at("b[1].x")..at("b[1].x") + 5], "\"a,]\"");
        assert!(at("b[2]") > at("b[1].x"));
        assert!(at("a.c") > at("b[2]"));
        assert_eq!(&t[at("a.c")..at("a.c") + 1], "2");
    }

    #[test]
    fn removed_indices_map_back_to_the_file() {
        let mut r = Removed::default();
        let list = vec![Seg::Key("l".into())];
        r.add(list.clone(), 1);
        r.add(list.clone(), 2);
        // Pruned [0] is file [0]; pruned [1] is file [3].
        let p = |i| [list.clone(), vec![Seg::Index(i)]].concat();
        assert_eq!(r.to_file(&p(0)), p(0));
        assert_eq!(r.to_file(&p(1)), p(3));
    }
}
