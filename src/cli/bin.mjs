#!/usr/bin/env node
// Entry point of the `irqlab` command: run the TypeScript CLI through tsx,
// resolved from this package whatever the caller's working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
