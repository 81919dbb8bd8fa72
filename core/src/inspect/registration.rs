//! `validate` checks of a `conventions` store's convention registrations:
//! each node's `zarr_conventions` entries (matched by uuid; how their names
//! and URLs compare with the bundled schemas is a note — see `schema`),
//! attributes used without registering their convention, and each node's
//! metadata against the bundled schema of every convention it registers.

use serde_json::Value;

use super::check::{Ctx, Status};
use super::conventions::{layout, registered};
use super::schema::{self, convention, EntryForm, MULTISCALES, PROJ, SPATIAL};
use super::Kind;

/// `conventions` and `schema` checks of every node, then one note at the
/// root when entries are spelled as stores write them rather than as the
/// bundled schemas say.
pub(super) fn check_registrations(cx: &mut Ctx) {
    let tree = cx.tree;
    let mut written: Vec<(&'static str, Vec<String>)> = vec![];
    for (p, n) in &tree.nodes {
        let has_entries = n.attrs.contains_key("zarr_conventions");
        // arrays' (stale) proj:* without registrations are `stale-proj`'s
        let uses = if n.kind == Kind::Group || has_entries {
            uses(&n.attrs)
        } else {
            vec![]
        };
        if !has_entries && uses.is_empty() {
            continue;
        }
        entries(cx, p, &mut written);
        for (uuid, what) in uses {
            if !registered(&n.attrs).contains(&uuid) {
                let label = convention(uuid).map_or(uuid, |c| c.label);
                cx.push(
                    Status::Warn,
                    "conventions",
                    p,
                    format!(
                        "{what} without registering {label} (uuid {uuid}) in zarr_conventions: \
                         readers matching conventions by uuid ignore them"
                    ),
                );
            }
        }
        schemas(cx, p);
    }
    if !written.is_empty() {
        let mut labels: Vec<&str> = written.iter().map(|(l, _)| *l).collect();
        labels.sort();
        labels.dedup();
        let mut fields: Vec<String> = written
            .iter()
            .flat_map(|(l, f)| {
                f.iter()
                    .map(move |f| format!("{l} {}", f.split(' ').next().unwrap_or("")))
            })
            .collect();
        fields.sort();
        fields.dedup();
        cx.push(
            Status::Pass,
            "conventions",
            "",
            format!(
                "note: {} {} entries are spelled as the profile, the Python tool and titiler-eopf \
                 write them (v1 URLs, names \"spatial:\"/\"proj:\"), which differs from the bundled \
                 schemas ({}); conventions are matched by uuid, so this is not a failure",
                written.len(),
                labels.join(" and "),
                fields.join(", ")
            ),
        );
    }
}

/// Conventions a node's attributes use: (uuid, which attributes).
fn uses(attrs: &serde_json::Map<String, Value>) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![];
    if layout(attrs).is_some() {
        out.push((MULTISCALES, "multiscales.layout"));
    }
    if attrs.keys().any(|k| k.starts_with("spatial:")) {
        out.push((SPATIAL, "spatial:* attributes"));
    }
    if ["proj:code", "proj:wkt2", "proj:projjson"]
        .iter()
        .any(|k| attrs.contains_key(*k))
    {
        out.push((PROJ, "proj:* attributes"));
    }
    out
}

/// The `conventions` check of one node's entries.
fn entries(cx: &mut Ctx, p: &str, written: &mut Vec<(&'static str, Vec<String>)>) {
    const C: &str = "conventions";
    let Some(list) = cx.tree.nodes[p].attrs.get("zarr_conventions") else {
        return;
    };
    let Some(list) = list.as_array() else {
        return cx.push(Status::Fail, C, p, "zarr_conventions is not a list");
    };
    let mut known = vec![];
    let mut problems = vec![];
    for (i, e) in list.iter().enumerate() {
        let Some(e) = e.as_object() else {
            problems.push((Status::Fail, format!("entry {i} is not an object")));
            continue;
        };
        let Some(uuid) = e.get("uuid").and_then(Value::as_str) else {
            let name = e.get("name").and_then(Value::as_str).unwrap_or("?");
            problems.push((
                Status::Warn,
                format!("entry {i} ({name:?}) has no uuid: readers match conventions by uuid"),
            ));
            continue;
        };
        let Some(c) = convention(uuid) else {
            continue; // another convention: not ours to judge
        };
        known.push(c.label);
        match schema::entry_form(c, e) {
            EntryForm::Schema => {}
            EntryForm::Written(f) => written.push((c.label, f)),
            EntryForm::Other(f) => problems.push((
                Status::Warn,
                format!(
                    "the {} entry (uuid {uuid}) has {}: neither as the bundled {} schema nor as \
                     the profile writes it",
                    c.label,
                    f.join(", "),
                    c.schema
                ),
            )),
        }
    }
    if problems.is_empty() {
        let what = if known.is_empty() {
            "no convention validate knows".to_string()
        } else {
            known.join(", ")
        };
        cx.push(
            Status::Pass,
            C,
            p,
            format!("registers {what} (matched by uuid)"),
        );
    }
    for (st, msg) in problems {
        cx.push(st, C, p, msg);
    }
}

/// The `schema` check: the node's document against the bundled schema of
/// every convention it registers.
fn schemas(cx: &mut Ctx, p: &str) {
    let n = &cx.tree.nodes[p];
    let mut uuids: Vec<&str> = registered(&n.attrs)
        .into_iter()
        .filter(|u| convention(u).is_some())
        .collect();
    uuids.sort();
    uuids.dedup();
    if uuids.is_empty() {
        return;
    }
    let mut passed = vec![];
    let mut failed = vec![];
    for u in uuids {
        let c = convention(u).expect("filtered above");
        let errs = schema::errors(u, &n.meta);
        if errs.is_empty() {
            passed.push(c.schema);
        } else {
            let mut msg = format!("not valid against the bundled {} schema: ", c.schema);
            msg += &errs.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
            if errs.len() > 3 {
                msg += &format!("; and {} more", errs.len() - 3);
            }
            failed.push(msg);
        }
    }
    for f in failed {
        cx.push(Status::Fail, "schema", p, f);
    }
    if !passed.is_empty() {
        cx.push(
            Status::Pass,
            "schema",
            p,
            format!("valid against the bundled {} schema(s)", passed.join(", ")),
        );
    }
}
