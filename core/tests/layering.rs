//! The layering of `core/src` stays true: the `crate::…` (and `super::…`)
//! paths between its modules form no cycle. A module is a file (`a/b.rs`
//! or `a/b/mod.rs` is `a::b`); a path names the longest module it starts
//! with. A folder's `mod.rs` counts as a module too, so a backend that
//! imported its opener back (`store::object` → `store` → `store::object`)
//! would fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b/mod.rs` → `a::b`, `a/b.rs` → `a::b`, `lib.rs` → "".
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// Code without comments (doc examples and prose may name paths freely)
/// and without the unit tests at the end of a file (`mod tests` is a
/// module of its own, whose `super::` is the file's module).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths referenced in `text` of module `me`: `crate::a::b…` and
/// `super::…`, as chains of identifiers.
fn references(me: &str, text: &str) -> Vec<Vec<String>> {
    let mut out = vec![];
    let bytes = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && ident(bytes[at - 1]) {
                continue;
            }
            // the chain of identifiers after the prefix (stops at `{`, `;`…)
            let mut chain: Vec<String> = vec![];
            let mut j = at + start.len();
            loop {
                let k = j;
                while j < bytes.len() && ident(bytes[j]) {
                    j += 1;
                }
                if j == k {
                    break;
                }
                chain.push(text[k..j].to_string());
                if text[j..].starts_with("::") {
                    j += 2;
                } else {
                    break;
                }
            }
            let mut base: Vec<String> = if start == "crate::" {
                vec![]
            } else {
                let mut p: Vec<String> = me.split("::").map(String::from).collect();
                p.pop();
                p
            };
            // `super::super::x`
            while chain.first().is_some_and(|c| c == "super") {
                chain.remove(0);
                base.pop();
            }
            base.extend(chain);
            out.push(base);
        }
    }
    out
}

#[test]
fn core_modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rs_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = module_of(&src, f);
        let text = code(&std::fs::read_to_string(f).unwrap());
        for chain in references(&me, &text) {
            // the longest known module the path starts with
            let target = (0..=chain.len())
                .rev()
                .map(|n| chain[..n].join("::"))
                .find(|m| modules.contains(m))
                .unwrap_or_default();
            let ancestor = target.is_empty();
            if target != me && !ancestor {
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 30,
        "too few edges found: the parser is broken"
    );
    // depth-first search for a cycle, reported as a path
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|s| s == m).unwrap();
                let mut cycle = stack[i..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for n in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if let Some(c) = visit(m, &edges, &mut state, &mut vec![]) {
            panic!("import cycle in core: {}", c.join(" → "));
        }
    }
}

/// Top-level modules by layer: each may import only lower layers (what
/// each folder's `mod.rs` says it may import).
const LAYERS: [&[&str]; 6] = [
    &["error", "dtype", "jsonfmt", "path"],
    &["store", "codec", "geo"],
    &["tree"],
    &["product"],
    &["convert", "inspect"],
    &[""],
];

#[test]
fn core_modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rs_files(&src, &mut files);
    let layer = |m: &str| {
        let top = m.split("::").next().unwrap_or("");
        LAYERS
            .iter()
            .position(|l| l.contains(&top))
            .unwrap_or_else(|| panic!("module {m} is in no layer: add it to LAYERS"))
    };
    let mut wrong = vec![];
    for f in &files {
        let me = module_of(&src, f);
        let text = code(&std::fs::read_to_string(f).unwrap());
        for chain in references(&me, &text) {
            let Some(top) = chain.first() else { continue };
            // the crate root's re-exports
            let top = match top.as_str() {
                "Error" | "Result" => "error",
                "Location" | "Store" => "store",
                "ConvertOptions" | "Progress" | "Summary" | "convert_with" => "convert",
                t => t,
            };
            let own = me.split("::").next().unwrap_or("");
            if top != own && !me.is_empty() && layer(top) >= layer(&me) {
                wrong.push(format!("{me} imports {}", chain.join("::")));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_cycle_finder_sees_paths() {
    let refs = references(
        "convert::task",
        "use crate::store::{self, Store};\nuse super::plan::Plan;\nx = crate::geo::grid::Grid::new();",
    );
    assert!(refs.contains(&vec!["store".to_string()]));
    assert!(refs.contains(&vec!["convert".into(), "plan".into(), "Plan".into()]));
    assert!(refs.contains(&vec![
        "geo".into(),
        "grid".into(),
        "Grid".into(),
        "new".into()
    ]));
}
