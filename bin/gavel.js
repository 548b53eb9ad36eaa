#!/usr/bin/env node
// Entry point of the `gavel` command; the TypeScript is compiled to dist/ by `npm ci`.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2)));
