#!/usr/bin/env node
// kubectl plugin entry point (`kubectl echonet ...` once on PATH): the compiled CLI if built, else the TS source.
import { existsSync } from 'node:fs'
const built = new URL('../dist/cli/main.js', import.meta.url)
await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href)
