// Shared helpers for browser scripts. Each script is started by a Rust test with the
// stack's URL and fixtures in environment variables, and exits non-zero on failure.
import { chromium } from 'playwright-core';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function need(name) {
  const v = process.env[name];
  if (!v) { console.error(`missing env ${name}`); process.exit(2); }
  return v;
}

export function check(cond, msg) {
  if (!cond) { console.error(`FAILED: ${msg}`); process.exit(1); }
  console.log(`ok: ${msg}`);
}
