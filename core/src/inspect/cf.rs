//! The CF standard name table (version 93, 2026-03-17): every standard name
//! with its canonical units, and the aliases of renamed names. Embedded as
//! gzip text (`core/data/cf-standard-names.txt.gz`, regenerated from the
//! official XML by `scripts/cf_standard_names.py`).

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

const TABLE_GZ: &[u8] = include_bytes!("../../data/cf-standard-names.txt.gz");

/// What the table says about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A current standard name with its canonical units ("1" = dimensionless).
    Name {
        /// Canonical units, as the table writes them.
        canonical_units: &'a str,
    },
    /// An alias of a renamed standard name.
    Alias {
        /// The current name.
        of: &'a str,
    },
}

struct Table {
    version: String,
    entries: HashMap<String, String>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(TABLE_GZ)
            .read_to_string(&mut text)
            .expect("embedded CF table is valid gzip text");
        let mut version = String::new();
        let mut entries = HashMap::new();
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("# ") {
                version = h.to_string();
            } else if let Some((name, units)) = line.split_once('\t') {
                entries.insert(name.to_string(), units.to_string());
            }
        }
        Table { version, entries }
    })
}

/// Look up a standard name (`None` = not in the table).
pub fn lookup(name: &str) -> Option<Entry<'static>> {
    let units = table().entries.get(name)?;
    Some(match units.strip_prefix('=') {
        Some(of) => Entry::Alias { of },
        None => Entry::Name {
            canonical_units: units,
        },
    })
}

/// Number of names and aliases in the table.
pub fn len() -> usize {
    table().entries.len()
}

/// The table's header line (version and date).
pub fn version() -> &'static str {
    &table().version
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_names_we_write() {
        assert!(len() > 5000, "{}", len());
        assert!(version().contains("version 93"), "{}", version());
        for n in [
            "surface_bidirectional_reflectance",
            "toa_bidirectional_reflectance",
        ] {
            assert_eq!(
                lookup(n),
                Some(Entry::Name {
                    canonical_units: "1"
                })
            );
        }
        for n in ["projection_x_coordinate", "projection_y_coordinate"] {
            assert_eq!(
                lookup(n),
                Some(Entry::Name {
                    canonical_units: "m"
                })
            );
        }
        assert_eq!(
            lookup("air_pressure_at_sea_level"),
            Some(Entry::Alias {
                of: "air_pressure_at_mean_sea_level"
            })
        );
        assert_eq!(lookup("surface_reflectance_made_up"), None);
        assert_eq!(lookup(""), None);
    }
}
