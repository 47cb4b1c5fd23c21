#!/usr/bin/env node
// The npm registry this project installs from serves only the linux-x64 builds of packages
// with per-platform binaries (DuckDB, esbuild, rollup). npm then writes a lock file without the
// other platforms' optional packages, and `npm ci` refuses that lock as "out of sync". This
// adds those entries back with their os/cpu/libc, so npm skips them on a platform mismatch
// instead of asking for them. Run after any `npm install`: `node scripts/complete-lock.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'netbsd', 'android', 'sunos', 'aix', 'openharmony', 'cygwin'];
const CPU = ['x64', 'arm64', 'arm', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el', 'wasm32'];
const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = path.includes('node_modules/') ? path.slice(0, path.lastIndexOf('node_modules/')) : '';
    const candidates = [`${path}/node_modules/${name}`, `${base}node_modules/${name}`, `node_modules/${name}`];
    if (candidates.some((c) => packages[c])) continue;
    const parts = name.replace(/^@[^/]+\//, '').split(/[-_]/);
    const os = OS.filter((o) => parts.includes(o) || (o === 'win32' && parts.includes('windows')));
    const cpu = CPU.filter((c) => parts.includes(c) || (c === 'x64' && parts.includes('amd64')) || (c === 'arm' && parts.includes('gnueabihf')));
    // Only platform builds are restored; an optional dependency of another kind is a real miss.
    if (!os.length && !cpu.length) continue;
    const entry = { version: String(version).replace(/^[\^~]/, ''), optional: true };
    if (os.length) entry.os = os;
    if (cpu.length) entry.cpu = cpu;
    if (parts.includes('musl')) entry.libc = ['musl'];
    else if (parts.includes('gnu') || (os.includes('linux') && parts.includes('gnueabihf'))) entry.libc = ['glibc'];
    packages[`node_modules/${name}`] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
console.log(`complete-lock: ${added} platform entries added`);
