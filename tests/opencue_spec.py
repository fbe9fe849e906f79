"""OpenCue job specs checked the way Cuebot checks them: a validating parser against the DTD they declare.

The DTDs (cjsl-1.13 to 1.15) are OpenCue's own, copied unchanged into the shared fixtures
(``../shared/fixtures/opencue/``, see its README). Cuebot parses every submitted spec with a validating
XML parser against the DTD its DOCTYPE names; lxml (libxml2) does the same here.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from shared_fixtures import fixtures_root

DTD_DIR = fixtures_root() / "opencue"
DOCTYPE = re.compile(r'<!DOCTYPE spec PUBLIC "[^"]+" "([^"]+)">')


def declared_dtd(xml: str) -> Path:
    """The fixture DTD file the spec's DOCTYPE names (``…/cjsl-1.15.dtd`` -> ``cjsl-1.15.dtd``)."""
    match = DOCTYPE.search(xml)
    assert match, f"the spec has no OpenCue DOCTYPE: {xml[:200]!r}"
    path = DTD_DIR / match.group(1).rsplit("/", 1)[-1]
    assert path.is_file(), f"the spec declares {match.group(1)}, which is not among {sorted(DTD_DIR.glob('*.dtd'))}"
    return path


def dtd_errors(xml: str) -> list[str]:
    """Every way ``xml`` breaks the DTD it declares (empty when valid)."""
    dtd = etree.DTD(str(declared_dtd(xml)))
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(load_dtd=False, no_network=True,
                                                                  resolve_entities=False))
    if dtd.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in dtd.error_log.filter_from_errors()]


def assert_valid(xml: str) -> None:
    errors = dtd_errors(xml)
    assert not errors, f"the job spec breaks {declared_dtd(xml).name}:\n" + "\n".join(errors)
