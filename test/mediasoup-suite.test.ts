/**
 * mediasoup's own test suite (jest) against the worker binary we build, through
 * scripts/test-mediasoup-suite.sh: exit code 0 means every test passed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const script = 'scripts/test-mediasoup-suite.sh';
const TIMEOUT_MS = 5 * 60_000;

test('mediasoup jest suite passes against our worker', {
  timeout: TIMEOUT_MS + 30_000,
}, async (t) => {
  assert.ok(
    existsSync(fileURLToPath(new URL(`../${script}`, import.meta.url))),
    `${script} missing`,
  );
  const started = Date.now();
  // Own process group, so a timeout can stop jest and its workers with the script.
  const child = spawn('bash', [script], {
    cwd: repoRoot,
    env: {
      ...process.env,
      // The script runs the first `node` on PATH: make it this Node 24.
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      // jest runs under `timeout` in its own process group, out of reach of the group
      // kill below: let the script's own limit stop it first.
      SUITE_TIMEOUT: process.env.SUITE_TIMEOUT ?? String(TIMEOUT_MS / 1000 - 20),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary = output
    .split('\n')
    .filter((line) => /^(Test Suites|Tests):/.test(line.trim()))
    .map((line) => line.trim());
  t.diagnostic(
    `${script}: exit ${code} after ${seconds} s; ${summary.join('; ') || 'no jest summary'}`,
  );
  assert.equal(timedOut, false, `timed out after ${TIMEOUT_MS / 1000} s:\n${output.slice(-4000)}`);
  assert.equal(code, 0, `exit ${code}:\n${output.slice(-4000)}`);
});
