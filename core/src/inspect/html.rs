//! `info --html-output`: one self-contained HTML page (inline CSS and a few
//! lines of inline script, nothing fetched) with a collapsible group tree,
//! arrays (shape, chunks, dtype, codecs, fill), attributes, CRS and levels.

use serde_json::{Map, Value};

use super::info::{self, GroupInfo, Info};

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#fbfbfd}
h1{font-size:1.25em;margin:0 0 .2em} .meta{color:#555;margin-bottom:1em}
details{margin-left:1.1em} summary{cursor:pointer;padding:1px 0}
summary.group{font-weight:600} .badge{font-weight:400;color:#2a5d9f;margin-left:.6em;font-size:.92em}
table{border-collapse:collapse;margin:.3em 0 .5em 1.1em;font-size:.93em}
td,th{border:1px solid #d8dbe3;padding:2px 7px;text-align:left;vertical-align:top}
th{background:#eef1f7} code{font:12.5px ui-monospace,monospace}
.attrs pre{margin:.2em 0 .4em 1.1em;max-height:22em;overflow:auto;background:#f2f3f7;padding:.4em;font-size:12px}
.levels td:first-child{font-weight:600}
button{margin-right:.5em}
"#;

const SCRIPT: &str = r#"
function setAll(open){document.querySelectorAll('details.group').forEach(function(d){d.open=open;});}
"#;

fn attrs_block(attrs: &Map<String, Value>) -> String {
    if attrs.is_empty() {
        return String::new();
    }
    let text = serde_json::to_string_pretty(&Value::Object(attrs.clone())).unwrap_or_default();
    format!(
        "<details class=\"attrs\"><summary>attributes ({})</summary><pre>{}</pre></details>\n",
        attrs.len(),
        esc(&text)
    )
}

fn group_html(g: &GroupInfo, open: bool, out: &mut String) {
    let label = if g.path == "/" {
        "/".to_string()
    } else {
        format!("{}/", g.name)
    };
    let mut badges = String::new();
    if let Some(s) = &g.spatial {
        if let Some(c) = &s.crs {
            badges += &format!("<span class=\"badge\">{}</span>", esc(&info::crs_text(c)));
        }
    }
    if let Some(m) = &g.multiscales {
        badges += &format!("<span class=\"badge\">{} levels</span>", m.levels.len());
    }
    if let Some(m) = &g.layout {
        badges += &format!("<span class=\"badge\">{} levels</span>", m.levels.len());
    }
    out.push_str(&format!(
        "<details class=\"group\" data-path=\"{}\"{}><summary class=\"group\">{}{}</summary>\n",
        esc(&g.path),
        if open { " open" } else { "" },
        esc(&label),
        badges
    ));
    if let Some(s) = &g.spatial {
        out.push_str(&format!(
            "<p class=\"spatial\" style=\"margin-left:1.1em\">{}</p>\n",
            esc(&info::spatial_line(s))
        ));
    }
    if let Some(m) = &g.multiscales {
        out.push_str(&format!(
            "<table class=\"levels\"><tr><th colspan=\"5\">multiscales: {} ({})</th></tr>\n<tr><th>level</th><th>size (w×h)</th><th>cell size</th><th>tiles</th><th>tile size</th></tr>\n",
            esc(m.tile_matrix_set.as_deref().unwrap_or("no tile matrix set")),
            esc(m.resampling_method.as_deref().unwrap_or("resampling not stated"))
        ));
        for l in &m.levels {
            let cell = |v: Option<String>| v.unwrap_or_else(|| "–".into());
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&l.id),
                cell(l.shape.map(|[h, w]| format!("{w}×{h}"))).replace('–', "missing"),
                cell(l.cell_size.map(|c| c.to_string())),
                cell(l.matrix.map(|[w, h]| format!("{w}×{h}"))),
                cell(l.tile.map(|[w, h]| format!("{w}×{h}")))
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(m) = &g.layout {
        out.push_str(&format!(
            "<table class=\"levels\"><tr><th>{}</th></tr>\n",
            esc(&info::layout_header(m))
        ));
        for l in &m.levels {
            out.push_str(&format!(
                "<tr><td>{}</td></tr>\n",
                esc(&info::layout_level_line(l))
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str(&attrs_block(&g.attributes));
    if !g.arrays.is_empty() {
        out.push_str("<table class=\"arrays\"><tr><th>array</th><th>dtype</th><th>shape</th><th>chunks</th><th>dims</th><th>codecs</th><th>fill</th></tr>\n");
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" × ");
        for a in &g.arrays {
            out.push_str(&format!(
                "<tr class=\"array\" data-path=\"{}\"><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
                esc(&a.path),
                esc(&a.name),
                attrs_block(&a.attributes),
                esc(&a.dtype),
                esc(&list(&a.shape)),
                esc(&list(&a.chunks)),
                esc(&a.dimensions.join(", ")),
                esc(&a.codecs.join(" + ")),
                esc(&a.fill_value.to_string())
            ));
        }
        out.push_str("</table>\n");
    }
    for c in &g.groups {
        group_html(c, false, out);
    }
    out.push_str("</details>\n");
}

/// The page for an [`Info`].
pub fn render(info: &Info) -> String {
    let mut body = String::new();
    group_html(&info.root, true, &mut body);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{title}</title>\n<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head><body>\n<h1>{title}</h1>\n<div class=\"meta\">Zarr v{fmt} · {g} groups · {a} arrays · {cons}</div>\n<div><button id=\"expand-all\" onclick=\"setAll(true)\">expand all</button><button id=\"collapse-all\" onclick=\"setAll(false)\">collapse all</button></div>\n<div id=\"tree\">\n{body}</div>\n</body></html>\n",
        title = esc(&info.location),
        fmt = info.zarr_format,
        g = info.group_count,
        a = info.array_count,
        cons = if info.consolidated {
            "consolidated metadata"
        } else {
            "no consolidated metadata"
        },
    )
}
