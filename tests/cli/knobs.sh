#!/usr/bin/env bash
# Every config key takes effect or is refused, in every context it can apply to (tests/cli/knobs.py).
set -euo pipefail
exec python3 "$2/tests/cli/knobs.py" "$1" "$2"
