//! Writing metadata: every node's `zarr.json` first, consolidated metadata
//! (zarr-python 3 inline form) last — a store without root consolidated
//! metadata is unfinished.

use serde_json::{json, Map, Value};

use crate::convert::plan::Plan;
use crate::store::{self, Store};
use crate::tree::strip_consolidated;
use crate::Result;

/// Write every planned node. An array whose stored metadata differs from the
/// plan loses its chunks first (they may not match); matching arrays keep them.
/// Returns how many arrays were reset. `fresh`: the output was empty, so
/// nothing is read back.
pub(crate) fn write_metadata(plan: &Plan, out: &Store, fresh: bool) -> Result<usize> {
    // one read per node (and a write where it differs): overlapped, for object stores
    let reset = store::par_io(&plan.nodes, |(path, meta)| {
        let key = crate::path::join(path, "zarr.json");
        let existing = if fresh {
            None
        } else {
            store::get_json(out, &key).ok().flatten()
        };
        let mut reset = false;
        // the root is always rewritten: the store is unfinished until consolidated again
        if path.is_empty() || existing.as_ref().map(strip_consolidated).as_ref() != Some(meta) {
            if existing.is_some() && meta["node_type"] == "array" {
                store::erase_prefix(out, path)?;
                reset = true;
            }
            store::put_json(out, &key, meta)?;
        }
        Ok(reset)
    })?;
    Ok(reset.into_iter().filter(|r| *r).count())
}

/// Consolidated metadata of `group`: every planned descendant, by relative path.
pub(crate) fn consolidated_for(plan: &Plan, group: &str) -> Map<String, Value> {
    let prefix = if group.is_empty() {
        String::new()
    } else {
        format!("{group}/")
    };
    plan.nodes
        .iter()
        .filter(|(p, _)| !p.is_empty() && p.starts_with(&prefix) && p.len() > prefix.len())
        .map(|(p, v)| (p[prefix.len()..].to_string(), v.clone()))
        .collect()
}

/// A group's `zarr.json` with inline consolidated metadata.
pub(crate) fn with_consolidated(meta: &Value, members: Map<String, Value>) -> Value {
    json!({
        "attributes": meta["attributes"],
        "zarr_format": 3,
        "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": members},
        "node_type": "group",
    })
}

/// Consolidate level groups and converted groups, then the root (last).
pub(crate) fn consolidate(plan: &Plan, out: &Store) -> Result<()> {
    let mut targets: Vec<String> = vec![];
    for g in &plan.groups {
        targets.extend((0..g.levels.len()).map(|l| g.level_path(l)));
    }
    targets.extend(plan.groups.iter().map(|g| g.path.clone()));
    targets.push(String::new());
    // levels may be shared between groups (conventions profile)
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.clone()));
    let put = |t: &String| {
        let meta = plan
            .node(t)
            .cloned()
            .unwrap_or_else(|| json!({"attributes": {}}));
        let doc = with_consolidated(&meta, consolidated_for(plan, t));
        store::put_json(out, &crate::path::join(t, "zarr.json"), &doc)
    };
    // overlapped (one round trip each on object stores); the root, which
    // marks the store complete, strictly after all of them
    let root = targets
        .iter()
        .position(String::is_empty)
        .map(|i| targets.remove(i));
    store::par_io(&targets, put)?;
    root.as_ref().map(put).transpose()?;
    Ok(())
}
