#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx cairn` works from a fresh checkout with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
