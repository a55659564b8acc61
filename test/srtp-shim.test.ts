import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The worker's libsrtp 3 shim keeps one libsrtp2 session per SSRC in a table of its own
 * (scripts/worker-build/subprojects/libsrtp3/srtp3_shim.c). test/support/srtpShimCheck.c
 * drives it against the real libsrtp2, under AddressSanitizer and UBSan: 50 SSRCs in
 * turn, removals and re-creation, replays, forgeries, RTCP.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

test('the SRTP shim: per-SSRC sessions protect, unprotect, remove and refuse as libsrtp2 does', {
  skip: process.env.GHOSTTALK_WORKER === 'prebuilt' && 'a prebuilt worker has its own libsrtp',
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'srtp-shim-'));
  try {
    const binary = join(dir, 'check');
    await run('gcc', [
      '-O1',
      '-g',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-Wall',
      '-Wextra',
      '-Werror',
      `-I${join(root, 'scripts/worker-build/subprojects/libsrtp3/include')}`,
      join(root, 'test/support/srtpShimCheck.c'),
      '-lsrtp2',
      '-o',
      binary,
    ]);
    const { stdout } = await run(binary);
    assert.match(stdout, /^ok 50 SSRCs x 20 rounds$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
