#!/usr/bin/env bash
# Formats the C sources with the root .clang-format (`make format`), or with
# --check fails listing the files that are not formatted (run by `make test`
# as the ctest entry lint.format). Uses Debian's clang-format (14 on bookworm):
# another major version may format a few constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' \
  'tests/fixtures/*.c' 'tests/fixtures/*.h' 'bench/*.c' 'bench/*.h' 2>/dev/null || true)
[ ${#files[@]} -gt 0 ] || { echo "format: no files (not a git checkout?)" >&2; exit 1; }
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f"; bad=1; fi
  done
  [ $bad -eq 0 ] || { echo "run 'make format' to fix" >&2; exit 1; }
  echo "format: ${#files[@]} files formatted"
else
  clang-format -i "${files[@]}"
fi
