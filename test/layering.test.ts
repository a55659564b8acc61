/** The import rules of .dependency-cruiser.cjs hold for the tree, and they do bite. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const depcruise = join(root, 'node_modules/.bin/depcruise');

function cruise(cwd: string) {
  const config = join(root, '.dependency-cruiser.cjs');
  return spawnSync(depcruise, ['src', 'client/src', '--config', config, '--output-type', 'err'], {
    cwd,
    encoding: 'utf8',
  });
}

test('the tree follows the layering', () => {
  const run = cruise(root);
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('a media module importing signaling, a cycle and a client importing the server all fail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-layering-'));
  try {
    for (const part of ['src', 'client/src', 'tsconfig.json']) {
      cpSync(join(root, part), join(dir, part), { recursive: true });
    }
    writeFileSync(
      join(dir, 'src/media/probe.ts'),
      "import { SignalingError } from '../signaling/SignalingError.ts';\nexport const x = SignalingError;\n",
    );
    writeFileSync(join(dir, 'src/net/a.ts'), "import { b } from './b.ts';\nexport const a = b;\n");
    writeFileSync(join(dir, 'src/net/b.ts'), "import { a } from './a.ts';\nexport const b = a;\n");
    writeFileSync(
      join(dir, 'client/src/probe.ts'),
      "import { RoomRegistry } from '../../src/media/RoomRegistry.ts';\nexport const r = RoomRegistry;\n",
    );
    const run = cruise(dir);
    assert.notEqual(run.status, 0);
    const out = run.stdout + run.stderr;
    for (const rule of ['layer-media', 'no-circular', 'client-uses-only-the-protocol']) {
      assert.match(out, new RegExp(rule), `${rule} reported`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
