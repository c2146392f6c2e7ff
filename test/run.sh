#!/usr/bin/env bash
# `npm test`: every check and every test suite, from a fresh clone after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/setup.sh
echo "== typecheck and lint" >&2
tsc -p tsconfig.json
biome check .
echo "== tests" >&2
# Unit tests sit beside the code; integration (real SMTP peers) and e2e (real apiserver) under test/.
exec node --test --test-concurrency=2 --test-timeout=300000 'src/**/*.test.ts' 'test/**/*.test.ts'
