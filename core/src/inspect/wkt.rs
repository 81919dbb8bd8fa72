//! A small WKT (CRS well-known text, WKT1 and WKT2) reader: enough to tell
//! whether a `crs_wkt` parses, and to pull out its name and EPSG code.

/// What a parsed CRS WKT says about itself.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WktCrs {
    /// Root keyword (`PROJCS`, `PROJCRS`, `GEOGCS`…).
    pub keyword: String,
    /// The CRS name (first quoted string).
    pub name: String,
    /// EPSG code of the root `AUTHORITY`/`ID`, if any.
    pub epsg: Option<u32>,
}

/// Root keywords that denote a CRS.
const CRS_KEYWORDS: &[&str] = &[
    "PROJCS",
    "GEOGCS",
    "GEOCCS",
    "COMPD_CS",
    "VERT_CS",
    "LOCAL_CS",
    "PROJCRS",
    "PROJECTEDCRS",
    "GEOGCRS",
    "GEOGRAPHICCRS",
    "GEODCRS",
    "GEODETICCRS",
    "COMPOUNDCRS",
    "VERTCRS",
    "VERTICALCRS",
    "ENGCRS",
    "BOUNDCRS",
];

enum Item {
    Text(String),
    Other,
    Node(String, Vec<Item>),
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at character {}", self.i))
    }
    fn item(&mut self, depth: usize) -> Result<Item, String> {
        if depth > 64 {
            return self.err("nesting too deep");
        }
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return self.err("unterminated string"),
                        Some(b'"') if self.s.get(self.i + 1) == Some(&b'"') => {
                            out.push(b'"');
                            self.i += 2;
                        }
                        Some(b'"') => {
                            self.i += 1;
                            break;
                        }
                        Some(c) => {
                            out.push(*c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Item::Text(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.' | b'_') => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.' | b'_')
                }) {
                    self.i += 1;
                }
                let word = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.ws();
                match self.s.get(self.i) {
                    Some(b'[') | Some(b'(') => {
                        let close = if self.s[self.i] == b'[' { b']' } else { b')' };
                        self.i += 1;
                        let mut kids = vec![];
                        loop {
                            kids.push(self.item(depth + 1)?);
                            self.ws();
                            match self.s.get(self.i) {
                                Some(b',') => self.i += 1,
                                Some(c) if *c == close => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return self.err("expected ',' or a closing bracket"),
                            }
                        }
                        Ok(Item::Node(word.to_ascii_uppercase(), kids))
                    }
                    _ => Ok(Item::Other),
                }
            }
            Some(_) => self.err("unexpected character"),
        }
    }
}

fn epsg_of(kids: &[Item]) -> Option<u32> {
    kids.iter().rev().find_map(|k| match k {
        Item::Node(kw, args) if kw == "AUTHORITY" || kw == "ID" => match args.as_slice() {
            [Item::Text(auth), Item::Text(code), ..] if auth.eq_ignore_ascii_case("EPSG") => {
                code.parse().ok()
            }
            [Item::Text(auth), Item::Other, ..] if auth.eq_ignore_ascii_case("EPSG") => None,
            _ => None,
        },
        _ => None,
    })
}

/// Parse a CRS WKT string.
pub(super) fn parse(s: &str) -> Result<WktCrs, String> {
    let mut p = P {
        s: s.as_bytes(),
        i: 0,
    };
    let root = p.item(0)?;
    p.ws();
    if p.i != p.s.len() {
        return p.err("trailing text");
    }
    let Item::Node(keyword, kids) = root else {
        return Err("not a WKT node".into());
    };
    if !CRS_KEYWORDS.contains(&keyword.as_str()) {
        return Err(format!("{keyword} is not a CRS keyword"));
    }
    let Some(Item::Text(name)) = kids.first() else {
        return Err(format!("{keyword} has no name"));
    };
    // WKT2 writes ID["EPSG",32632] with a bare number
    let epsg = epsg_of(&kids).or_else(|| {
        let i = s.rfind("ID[\"EPSG\",")?;
        let rest = &s[i + 10..];
        rest[..rest.find(']')?].trim().parse().ok()
    });
    Ok(WktCrs {
        keyword,
        name: name.clone(),
        epsg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wkt1_and_wkt2() {
        let w = crate::geo::crs::utm_wkt(32632).unwrap();
        let c = parse(&w).unwrap();
        assert_eq!(c.keyword, "PROJCS");
        assert_eq!(c.name, "WGS 84 / UTM zone 32N");
        assert_eq!(c.epsg, Some(32632));
        let w2 = r#"PROJCRS["WGS 84 / UTM zone 33S", BASEGEOGCRS["WGS 84", DATUM["World Geodetic System 1984", ELLIPSOID["WGS 84",6378137,298.257223563]]], CONVERSION["UTM zone 33S", METHOD["Transverse Mercator"]], CS[Cartesian,2], ID["EPSG",32733]]"#;
        let c = parse(w2).unwrap();
        assert_eq!((c.keyword.as_str(), c.epsg), ("PROJCRS", Some(32733)));
    }

    #[test]
    fn rejects_broken_text() {
        let w = crate::geo::crs::utm_wkt(32632).unwrap();
        assert!(parse(&w[..w.len() - 1]).is_err());
        assert!(parse("EPSG:32632").is_err());
        assert!(parse("").is_err());
        assert!(parse("UNIT[\"metre\",1]").is_err());
        assert!(parse(&format!("{w}]")).is_err());
    }
}
