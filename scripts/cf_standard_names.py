#!/usr/bin/env python3
"""Regenerate core/data/cf-standard-names.txt.gz from the CF standard name
table XML (cf-standard-name-table.xml, e.g. as shipped in the
compliance-checker wheel: compliance_checker/data/).

Usage: scripts/cf_standard_names.py TABLE.xml
Output lines: NAME<TAB>CANONICAL_UNITS, or NAME<TAB>=CURRENT_NAME for aliases.
"""
import gzip
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

root = ET.parse(sys.argv[1]).getroot()
lines = [f"{e.get('id')}\t{(e.findtext('canonical_units') or '').strip()}" for e in root.findall("entry")]
lines += [f"{a.get('id')}\t={a.findtext('entry_id').strip()}" for a in root.findall("alias")]
lines.sort()
head = (f"# CF Standard Name Table version {root.findtext('version_number')} "
        f"({root.findtext('last_modified')}), names and canonical units; '=NAME' marks an alias of NAME\n")
out = Path(__file__).resolve().parent.parent / "core/data/cf-standard-names.txt.gz"
out.write_bytes(gzip.compress((head + "\n".join(lines) + "\n").encode(), 9, mtime=0))
print(f"{len(lines)} names -> {out}")
