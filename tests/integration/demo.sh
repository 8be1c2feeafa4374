#!/usr/bin/env bash
# Runs the README's demo against the programs of this build, so that CI
# proves the demo works.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
export VIRTBUS_DEMO_BIN=$VIRTBUS_BIN_DIR
exec "$(dirname "$0")/../../packaging/demo.sh"
