//! `validate` check of consolidated metadata: present at the root and equal
//! to every node's stored document.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::check::{Ctx, Status};
use super::{display, strip_consolidated, v3_node, Node, Read, Tree};
use crate::path::join;
use crate::Result;

pub(super) fn check_consolidated(cx: &mut Ctx) -> Result<()> {
    const C: &str = "consolidated";
    let tree = cx.tree;
    if tree.zarr_format == 2 {
        if !tree.consolidated {
            cx.push(Status::Warn, C, "", "no .zmetadata (consolidated metadata)");
            return Ok(());
        }
        let cons = Tree::open(cx.store, &tree.location, Read::Consolidated)?;
        let members: BTreeMap<String, Node> = cons
            .nodes
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect();
        compare_members(cx, "", &members, &cons.broken);
        return Ok(());
    }
    if !tree.consolidated_members.contains_key("") {
        cx.push(
            Status::Fail,
            C,
            "",
            "the root zarr.json has no consolidated metadata: the store is unfinished",
        );
    }
    for (g, m) in &tree.consolidated_members {
        let mut nodes = BTreeMap::new();
        let mut broken = vec![];
        for (rel, doc) in m {
            match v3_node(doc) {
                Ok(n) => {
                    nodes.insert(join(g, rel), n);
                }
                Err(e) => broken.push((join(g, rel), e)),
            }
        }
        compare_members(cx, g, &nodes, &broken);
    }
    Ok(())
}

/// Compare the consolidated members of group `g` with the nodes stored under it.
fn compare_members(
    cx: &mut Ctx,
    g: &str,
    members: &BTreeMap<String, Node>,
    broken: &[(String, String)],
) {
    const C: &str = "consolidated";
    let prefix = if g.is_empty() {
        String::new()
    } else {
        format!("{g}/")
    };
    let mut problems: Vec<String> = broken
        .iter()
        .map(|(k, e)| format!("entry {} is unreadable: {e}", display(k)))
        .collect();
    let stored: Vec<&String> = cx
        .tree
        .nodes
        .keys()
        .filter(|k| !k.is_empty() && k.starts_with(&prefix) && k.len() > prefix.len())
        .collect();
    for k in &stored {
        let actual = &cx.tree.nodes[*k];
        match members.get(*k) {
            None => problems.push(format!("{} is stored but not listed", display(k))),
            Some(m) => {
                let fields = differing_fields(
                    &strip_consolidated(&m.meta),
                    &actual.meta,
                    &m.attrs,
                    &actual.attrs,
                );
                if !fields.is_empty() {
                    problems.push(format!(
                        "{} differs from its stored metadata ({})",
                        display(k),
                        fields.join(", ")
                    ));
                }
            }
        }
    }
    for k in members.keys() {
        if !cx.tree.nodes.contains_key(k) {
            problems.push(format!("{} is listed but not stored", display(k)));
        }
    }
    if problems.is_empty() {
        cx.push(
            Status::Pass,
            C,
            g,
            format!("{} entries equal the stored metadata", members.len()),
        );
    } else {
        let n = problems.len();
        let mut msg = format!(
            "stale consolidated metadata: {}",
            problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if n > 5 {
            msg += &format!("; and {} more", n - 5);
        }
        cx.push(Status::Fail, C, g, msg);
    }
}

fn differing_fields(
    a: &Value,
    b: &Value,
    aa: &Map<String, Value>,
    ba: &Map<String, Value>,
) -> Vec<String> {
    let mut out = vec![];
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        if a != b {
            out.push("metadata".into());
        }
        return out;
    };
    let mut keys: Vec<&String> = ao
        .keys()
        .chain(bo.keys())
        .filter(|k| *k != "attributes")
        .collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if ao.get(k) != bo.get(k) {
            out.push(k.clone());
        }
    }
    let mut akeys: Vec<&String> = aa.keys().chain(ba.keys()).collect();
    akeys.sort();
    akeys.dedup();
    for k in akeys {
        if aa.get(k) != ba.get(k) {
            out.push(format!("attributes.{k}"));
        }
    }
    out
}
