//! The zarr-conventions JSON schemas bundled in `core/schemas/conventions/`
//! (Apache-2.0; where they come from: `SOURCES.md` there), and what
//! `validate` checks with them: a node's metadata document against the
//! schema of each convention it registers, and how a `zarr_conventions`
//! entry compares with the schema's constants and with what stores write.
//!
//! # The bundled schemas disagree with the stores (decision)
//!
//! Stores written by the `conventions` profile, the Python tool
//! (`convert-s2-optimized`) and titiler-eopf, like the multiscales README's
//! own composition example, register `spatial:` and `proj:` with v1 URLs
//! and the names `"spatial:"` / `"proj:"`. The bundled schemas say
//! otherwise:
//! - spatial (`$id` v0.1): `$defs/conventionMetadata` pins `name` to
//!   `"spatial"` and `schema_url`/`spec_url` to the v0.1 URLs
//!   (`additionalProperties: false`); `uuid` and `description` agree. Its
//!   `zarr_conventions: {contains: …}` rejects every such store — for a
//!   validator applying keywords beside `$ref` (draft 2019-09 on, AJV);
//!   under the draft-07 it declares, that `contains` sits beside a `$ref`
//!   and is ignored, so the constants never bite (a test pins this).
//! - proj (geo:proj 0.1.0): a different shape altogether — one attribute
//!   keyed by the uuid with a `configuration` object — where stores write
//!   flat `proj:code` attributes; and its `projjson` `$ref`s a remote schema
//!   that cannot be resolved offline.
//! - multiscales (v1) agrees.
//!
//! The conventions framework identifies a convention by its uuid (the
//! profile says "readers match by uuid"), the name and URLs are
//! descriptive, and both spellings are in the wild. So: entries are matched
//! by `uuid` only; the attribute properties — what readers act on — are
//! checked against the schemas with each `conventionMetadata` reduced to
//! that uuid match; proj's properties are the bundled `configuration`
//! properties re-keyed as flat `proj:*` attributes. An entry whose name or
//! URLs differ from the bundled schema but match what stores write is a
//! note ([`EntryForm::Written`]), never a failure; one matching neither is
//! a warning (the check lives in `consistency`).

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// uuid of the zarr-conventions `multiscales` convention.
pub(super) const MULTISCALES: &str = "d35379db-88df-4056-af3a-620245f8e347";
/// uuid of the `spatial:` convention.
pub(super) const SPATIAL: &str = "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4";
/// uuid of the `proj:` (geo-proj) convention.
pub(super) const PROJ: &str = "f17cb550-5864-4468-aeb7-f3180cfb622f";

const MULTISCALES_SCHEMA: &str = include_str!("../../schemas/conventions/multiscales/schema.json");
const SPATIAL_SCHEMA: &str = include_str!("../../schemas/conventions/spatial/schema.json");
const PROJ_SCHEMA: &str = include_str!("../../schemas/conventions/proj/schema.json");

/// One of the three conventions.
#[derive(Debug)]
pub(super) struct Convention {
    /// Its uuid.
    pub uuid: &'static str,
    /// How reports name it (`multiscales`, `spatial:`, `proj:`).
    pub label: &'static str,
    /// Which bundled schema checks it, for messages.
    pub schema: &'static str,
    /// The entry as the profile, the Python tool and titiler-eopf write it:
    /// name, schema_url, spec_url, description.
    pub written: [&'static str; 4],
}

/// The conventions `validate` knows, by uuid.
pub(super) const CONVENTIONS: [Convention; 3] = [
    Convention {
        uuid: MULTISCALES,
        label: "multiscales",
        schema: "multiscales v1",
        written: [
            "multiscales",
            "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v1/schema.json",
            "https://github.com/zarr-conventions/multiscales/blob/v1/README.md",
            "Multiscale layout of zarr datasets",
        ],
    },
    Convention {
        uuid: SPATIAL,
        label: "spatial:",
        schema: "spatial v0.1",
        written: [
            "spatial:",
            "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v1/schema.json",
            "https://github.com/zarr-conventions/spatial/blob/v1/README.md",
            "Spatial coordinate information",
        ],
    },
    Convention {
        uuid: PROJ,
        label: "proj:",
        schema: "geo-proj 0.1.0 (as flat proj: attributes)",
        written: [
            "proj:",
            "https://raw.githubusercontent.com/zarr-experimental/geo-proj/refs/tags/v1/schema.json",
            "https://github.com/zarr-experimental/geo-proj/blob/v1/README.md",
            "Coordinate reference system information for geospatial data",
        ],
    },
];

/// The convention with this uuid.
pub(super) fn convention(uuid: &str) -> Option<&'static Convention> {
    CONVENTIONS.iter().find(|c| c.uuid == uuid)
}

const ENTRY_FIELDS: [&str; 4] = ["name", "schema_url", "spec_url", "description"];

fn bundled(uuid: &str) -> Value {
    let text = match uuid {
        MULTISCALES => MULTISCALES_SCHEMA,
        SPATIAL => SPATIAL_SCHEMA,
        _ => PROJ_SCHEMA,
    };
    serde_json::from_str(text).expect("bundled schemas are valid JSON")
}

/// The entry constants of the bundled schema: name, schema_url, spec_url,
/// description (proj 0.1.0 calls them name, schema, spec, description).
fn bundled_entry(uuid: &str) -> [Option<String>; 4] {
    let s = bundled(uuid);
    let (props, keys) = if uuid == PROJ {
        (
            &s["properties"][PROJ]["properties"],
            ["name", "schema", "spec", "description"],
        )
    } else {
        (
            &s["$defs"]["conventionMetadata"]["properties"],
            ENTRY_FIELDS,
        )
    };
    keys.map(|k| props[k]["const"].as_str().map(String::from))
}

/// How a `zarr_conventions` entry with a known uuid spells the rest.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EntryForm {
    /// As the bundled schema's constants.
    Schema,
    /// As stores write it (the profile's table), which the bundled schema
    /// does not accept: the fields that differ from the schema.
    Written(Vec<String>),
    /// Neither: the fields that differ from what stores write.
    Other(Vec<String>),
}

/// Compare an entry's name, URLs and description with the bundled
/// schema's constants and with what stores write (absent fields agree).
pub(super) fn entry_form(c: &Convention, entry: &Map<String, Value>) -> EntryForm {
    let schema = bundled_entry(c.uuid);
    let differ = |want: &dyn Fn(usize) -> Option<String>| -> Vec<String> {
        ENTRY_FIELDS
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let got = entry.get(*k)?;
                let w = want(i)?;
                (got.as_str() != Some(w.as_str())).then(|| format!("{k} {got}"))
            })
            .collect()
    };
    let from_schema = differ(&|i| schema[i].clone());
    if from_schema.is_empty() {
        return EntryForm::Schema;
    }
    let from_written = differ(&|i| Some(c.written[i].to_string()));
    if from_written.is_empty() {
        EntryForm::Written(from_schema)
    } else {
        EntryForm::Other(from_written)
    }
}

/// The bundled schema of a convention as `validate` applies it (see the
/// module documentation): entries matched by uuid only; proj as flat
/// attributes.
fn applied(uuid: &str) -> Value {
    let by_uuid = json!({
        "type": "object",
        "properties": {"uuid": {"type": "string", "const": uuid}},
        "required": ["uuid"]
    });
    if uuid != PROJ {
        let mut s = bundled(uuid);
        s["$defs"]["conventionMetadata"] = by_uuid;
        return s;
    }
    let s = bundled(PROJ);
    let conf = &s["properties"][PROJ]["properties"]["configuration"];
    let mut props = Map::new();
    for (k, v) in conf["properties"].as_object().into_iter().flatten() {
        // the remote PROJJSON schema cannot be fetched offline
        let v = if k == "projjson" {
            json!({"type": ["object", "null"]})
        } else {
            v.clone()
        };
        props.insert(format!("proj:{k}"), v);
    }
    let one_of: Vec<Value> = conf["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let k = r["required"][0].as_str()?;
            Some(json!({"required": [format!("proj:{k}")]}))
        })
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "attributes": {
                "type": "object",
                "properties": {
                    "zarr_conventions": {"type": "array", "contains": by_uuid}
                },
                "required": ["zarr_conventions"],
                "allOf": [{"properties": props, "oneOf": one_of}]
            }
        },
        "required": ["zarr_format", "node_type", "attributes"]
    })
}

type Validators = Vec<(&'static str, Result<jsonschema::Validator, String>)>;

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        CONVENTIONS
            .iter()
            .map(|c| {
                let v = jsonschema::draft7::new(&applied(c.uuid)).map_err(|e| e.to_string());
                (c.uuid, v)
            })
            .collect()
    })
}

/// What the convention's schema says of a node's metadata document: one
/// line per error (`/attributes/spatial:bbox: [0] is too short`), empty
/// when it is valid.
pub(super) fn errors(uuid: &str, doc: &Value) -> Vec<String> {
    let Some((_, v)) = validators().iter().find(|(u, _)| *u == uuid) else {
        return vec![format!("no bundled schema for uuid {uuid}")];
    };
    match v {
        Err(e) => vec![format!("the bundled schema does not build: {e}")],
        Ok(v) => v
            .iter_errors(doc)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn bundled_schemas_build_offline() {
        for (u, v) in validators() {
            assert!(v.is_ok(), "{u}: {:?}", v.as_ref().err());
        }
    }

    fn written(c: &Convention) -> Value {
        json!({"name": c.written[0], "schema_url": c.written[1], "spec_url": c.written[2],
               "description": c.written[3], "uuid": c.uuid})
    }

    #[test]
    fn the_written_entries_differ_from_the_bundled_spatial_and_proj_schemas() {
        let [m, s, p] = &CONVENTIONS;
        assert_eq!(entry_form(m, &entry(written(m))), EntryForm::Schema);
        let EntryForm::Written(f) = entry_form(s, &entry(written(s))) else {
            panic!()
        };
        assert_eq!(f.len(), 3, "name, schema_url, spec_url: {f:?}");
        assert!(f[0].contains("\"spatial:\""), "{f:?}");
        assert!(matches!(
            entry_form(p, &entry(written(p))),
            EntryForm::Written(_)
        ));
        // the bundled spatial form is accepted as is
        let v01 = json!({"uuid": SPATIAL, "name": "spatial",
            "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v0.1/schema.json"});
        assert_eq!(entry_form(s, &entry(v01)), EntryForm::Schema);
        // a uuid-only entry agrees with everything
        assert_eq!(
            entry_form(s, &entry(json!({"uuid": SPATIAL}))),
            EntryForm::Schema
        );
        let odd = entry_form(s, &entry(json!({"uuid": SPATIAL, "name": "space"})));
        assert_eq!(odd, EntryForm::Other(vec!["name \"space\"".into()]));
    }

    fn group(attrs: Value) -> Value {
        json!({"zarr_format": 3, "node_type": "group", "attributes": attrs})
    }

    #[test]
    fn attributes_are_checked_entries_matched_by_uuid() {
        let convs: Vec<Value> = CONVENTIONS.iter().map(written).collect();
        let good = group(json!({
            "zarr_conventions": convs,
            "multiscales": {"layout": [
                {"asset": "r10m", "transform": {"scale": [1.0, 1.0]}},
                {"asset": "r20m", "derived_from": "r10m", "transform": {"scale": [2.0, 2.0]},
                 "spatial:shape": [5, 5], "spatial:transform": [20.0, 0.0, 0.0, 0.0, -20.0, 100.0]}
            ]},
            "proj:code": "EPSG:32632",
            "spatial:dimensions": ["y", "x"],
            "spatial:bbox": [0.0, 0.0, 100.0, 100.0],
            "spatial:registration": "pixel"
        }));
        for c in &CONVENTIONS {
            assert_eq!(errors(c.uuid, &good), Vec::<String>::new(), "{}", c.label);
        }
        let mut bad = good.clone();
        let a = &mut bad["attributes"];
        a["spatial:bbox"] = json!([0.0, 0.0, 1.0]);
        a["spatial:registration"] = json!("corner");
        a["proj:code"] = json!("epsg:32632");
        a["multiscales"]["layout"][1]
            .as_object_mut()
            .unwrap()
            .remove("transform");
        let e = errors(SPATIAL, &bad);
        assert!(
            e.iter().any(|e| e.contains("/attributes/spatial:bbox")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|e| e.contains("spatial:registration")),
            "{e:?}"
        );
        let e = errors(PROJ, &bad);
        assert!(
            e.iter().any(|e| e.contains("/attributes/proj:code")),
            "{e:?}"
        );
        let e = errors(MULTISCALES, &bad);
        assert!(e.iter().any(|e| e.contains("transform")), "{e:?}");
        // no proj:code, proj:wkt2 nor proj:projjson
        let mut none = good.clone();
        none["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("proj:code");
        assert_eq!(errors(PROJ, &none).len(), 1);
        // an entry without the uuid does not register the convention
        // (spatial's `zarr_conventions` sits beside a `$ref`, which draft-07
        // ignores: its registration is checked by `conventions` instead)
        let mut unregistered = good;
        unregistered["attributes"]["zarr_conventions"] =
            json!([{"name": "spatial:"}, {"name": "multiscales"}, {"name": "proj:"}]);
        assert!(!errors(MULTISCALES, &unregistered).is_empty());
        assert!(!errors(PROJ, &unregistered).is_empty());
        assert!(errors(SPATIAL, &unregistered).is_empty());
        // the bundled spatial schema as is, under draft-07, does not see the
        // entries either: its name/URL constants never fail a store
        let as_is = jsonschema::draft7::new(&bundled(SPATIAL)).unwrap();
        let mut written_store = unregistered.clone();
        written_store["attributes"]["zarr_conventions"] =
            json!([super::tests::written(&CONVENTIONS[1])]);
        assert!(as_is.is_valid(&written_store));
    }
}
