#!/usr/bin/env bash
# docs/config.md embeds the key reference generated from the schema table; they must agree.
set -euo pipefail
bin=$1; src=$2
expected=$("$bin" config --reference)
actual=$(sed -n '/<!-- BEGIN GENERATED -->/,/<!-- END GENERATED -->/p' "$src/docs/config.md" | sed '1d;$d')
if [[ "$expected" != "$actual" ]]; then
  echo "FAIL: docs/config.md is out of date; regenerate its table with: cvtrain config --reference"
  diff <(echo "$expected") <(echo "$actual") || true
  exit 1
fi
echo "docs_config: 1 passed, 0 failed"
