//! How a task is worded, from the typed kind a client sends in each
//! [`TaskSpec`](crate::TaskSpec): its label in messages and in the
//! dashboard's task stream, its progress part and its colour class. The
//! scheduler and the CLI both word tasks through here, so the texts agree
//! and no one parses a label back.

use crate::task_spec::Kind;

/// A task named for people: `…/b02 level 1 chunk (0, 2)`, `…/b02` (a whole
/// band), `carry-over of …`, `coordinates of …`; empty when undescribed.
pub fn label(kind: Option<&Kind>) -> String {
    match kind {
        Some(Kind::Chunk(c)) => {
            format!("{} level {} chunk ({}, {})", c.band, c.level, c.row, c.col)
        }
        Some(Kind::Band(b)) => b.band.clone(),
        Some(Kind::Carry(c)) => format!("carry-over of {}", c.array),
        Some(Kind::Coords(c)) => format!("coordinates of {}", c.group),
        Some(Kind::Metadata(_)) => "metadata".into(),
        Some(Kind::Consolidate(_)) => "consolidated metadata".into(),
        None => String::new(),
    }
}

/// The part of a job whose progress the dashboard shows: a chunk task's
/// band and level (`…/b02 level 1`), else the task's [`class`].
pub fn part(kind: Option<&Kind>) -> String {
    match kind {
        Some(Kind::Chunk(c)) => format!("{} level {}", c.band, c.level),
        _ => class(kind).to_string(),
    }
}

/// The group of work a task's progress adds to, one bar each in the
/// dashboard: `level 0` (level-0 chunks), `overview level N`, `bands`
/// (whole-band tasks), `carry-over`, else `metadata` (metadata,
/// coordinates, consolidation, undescribed tasks).
pub fn group(kind: Option<&Kind>) -> String {
    match kind {
        Some(Kind::Chunk(c)) if c.level == 0 => "level 0".into(),
        Some(Kind::Chunk(c)) => format!("overview level {}", c.level),
        Some(Kind::Band(_)) => "bands".into(),
        Some(Kind::Carry(_)) => "carry-over".into(),
        _ => "metadata".into(),
    }
}

/// The dashboard's colour class: `level0`, `overview` (chunks of later
/// levels), `band`, `carry`, `coords`, else `other`.
pub fn class(kind: Option<&Kind>) -> &'static str {
    match kind {
        Some(Kind::Chunk(c)) if c.level == 0 => "level0",
        Some(Kind::Chunk(_)) => "overview",
        Some(Kind::Band(_)) => "band",
        Some(Kind::Carry(_)) => "carry",
        Some(Kind::Coords(_)) => "coords",
        Some(Kind::Metadata(_) | Kind::Consolidate(_)) | None => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BandTask, CarryTask, ChunkTask, CoordsTask, Empty};

    fn chunk(level: u32) -> Kind {
        Kind::Chunk(ChunkTask {
            band: "measurements/reflectance/r10m/b02".into(),
            level,
            row: 0,
            col: 2,
        })
    }

    #[test]
    fn chunks_are_named_by_band_level_and_position() {
        let k = chunk(1);
        assert_eq!(
            label(Some(&k)),
            "measurements/reflectance/r10m/b02 level 1 chunk (0, 2)"
        );
        assert_eq!(part(Some(&k)), "measurements/reflectance/r10m/b02 level 1");
        assert_eq!(class(Some(&k)), "overview");
        assert_eq!(class(Some(&chunk(0))), "level0");
        assert_eq!(group(Some(&k)), "overview level 1");
        assert_eq!(group(Some(&chunk(0))), "level 0");
        assert_eq!(group(None), "metadata");
    }

    #[test]
    fn other_tasks_are_named_by_what_they_write() {
        let cases = [
            (
                Kind::Band(BandTask {
                    band: "m/r20m/b05".into(),
                }),
                "m/r20m/b05",
                "band",
            ),
            (
                Kind::Carry(CarryTask {
                    array: "conditions/mask/l1c".into(),
                }),
                "carry-over of conditions/mask/l1c",
                "carry",
            ),
            (
                Kind::Coords(CoordsTask {
                    group: "m/r60m".into(),
                }),
                "coordinates of m/r60m",
                "coords",
            ),
            (Kind::Metadata(Empty {}), "metadata", "other"),
            (
                Kind::Consolidate(Empty {}),
                "consolidated metadata",
                "other",
            ),
        ];
        for (k, l, c) in cases {
            assert_eq!(label(Some(&k)), l);
            assert_eq!(class(Some(&k)), c);
            // only chunks have a part of their own
            assert_eq!(part(Some(&k)), c);
            let g = ["bands", "carry-over", "metadata", "metadata", "metadata"];
            assert!(g.contains(&group(Some(&k)).as_str()));
        }
        assert_eq!(label(None), "");
        assert_eq!(part(None), "other");
    }

    #[test]
    fn the_kind_survives_the_wire_and_label_is_gone() {
        use prost::Message;
        let spec = crate::TaskSpec {
            kind: Some(chunk(3)),
            affinity: 5,
            ..Default::default()
        };
        let bytes = spec.encode_to_vec();
        let back = crate::TaskSpec::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, spec);
        // a sender still writing the removed `label` (field 3, a string):
        // ignored as an unknown field
        let mut old = bytes.clone();
        old.extend([3 << 3 | 2, 2, b'h', b'i']);
        assert_eq!(crate::TaskSpec::decode(old.as_slice()).unwrap(), spec);
    }
}
