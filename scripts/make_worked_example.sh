#!/usr/bin/env bash
# Regenerate docs/worked-example/: gate and report the seed study's label table against the parity preset.
#
#   scripts/make_worked_example.sh            # fixtures from $CASTGATE_FIXTURES or ../shared/fixtures
#
# Writes gate.txt (what `castgate gate` prints), gate.json (its --json output), report.html and
# report.json. tests/test_seed_study.py checks that the committed files match a fresh run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="${CASTGATE_FIXTURES:-$repo/../shared/fixtures}"
study="$fixtures/seed-study"
out="$repo/docs/worked-example"

if [[ ! -f "$study/labels.csv" ]]; then
    echo "make_worked_example: no $study/labels.csv; set CASTGATE_FIXTURES" >&2
    exit 2
fi
mkdir -p "$out"
cd "$study"   # relative path, so the committed files name "labels.csv" and not this machine's folders

# The gate exits 1 (FAIL) on this table; that is the expected answer, not an error.
status=0
castgate gate --labels labels.csv --quota parity > "$out/gate.txt.tmp" || status=$?
castgate gate --labels labels.csv --quota parity --json > "$out/gate.json.tmp" || true
if [[ $status -ne 1 ]]; then
    echo "make_worked_example: expected the gate to FAIL (exit 1), got exit $status" >&2
    rm -f "$out"/*.tmp
    exit 1
fi
mv "$out/gate.txt.tmp" "$out/gate.txt"
mv "$out/gate.json.tmp" "$out/gate.json"
castgate report --labels labels.csv --quota parity -o "$out"
echo "worked example written to $out"
