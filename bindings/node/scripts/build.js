#!/usr/bin/env node
// Builds the native addon from source with @napi-rs/cli (`napi build --platform --release`):
// npm runs this as the package's install script, so `npm install` in this folder and
// `npm install ./bindings/node` elsewhere both build it. It needs Rust (cargo).
//
// A folder install links this folder into the other project without installing this
// package's own dependencies, so when @napi-rs/cli cannot be found it is installed here first.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = path.resolve(__dirname, '..');

function fail(message) {
  console.error(`libipc: ${message}`);
  process.exit(1);
}

function run(cmd, args) {
  try {
    execFileSync(cmd, args, { cwd: here, stdio: 'inherit' });
  } catch (e) {
    fail(`${path.basename(cmd)} ${args.join(' ')} failed (${e.status ?? e.message})`);
  }
}

function findCli() {
  try {
    return require.resolve('@napi-rs/cli/package.json', { paths: [here] });
  } catch {
    return null;
  }
}

try {
  execFileSync('cargo', ['--version'], { stdio: 'ignore' });
} catch {
  fail('building the native addon needs Rust: install it with rustup (https://rustup.rs), then run npm install again');
}

if (!findCli()) {
  console.error('libipc: installing @napi-rs/cli to build the native addon');
  const npmCli = process.env.npm_execpath;
  if (npmCli && npmCli.endsWith('.js')) {
    run(process.execPath, [npmCli, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund']);
  } else {
    run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund']);
  }
}
const pkgJson = findCli();
if (!pkgJson) {
  fail('@napi-rs/cli is still missing after installing it');
}
const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.napi;
run(process.execPath, [path.join(path.dirname(pkgJson), bin), 'build', '--platform', '--release']);
