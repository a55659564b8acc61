/**
 * Compares mediasoup-worker builds on the forwarding-cost step (SRTP GCM and AES-CM
 * through werift, plain RTP): each build gets its own worker in one process, and the
 * builds take turns, `--reps` times, so machine noise hits them alike. Medians.
 *
 *   node bench/workerBuilds.ts --bin stock=node_modules/mediasoup/worker/out/Release/mediasoup-worker \
 *     --bin openssl=/path/to/other/mediasoup-worker [--reps 3] [--window-ms 5000]
 *
 * Writes bench/results/worker-builds.json.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ForwardingCostResult, measureForwardingCost } from './lib/forwardingCost.ts';
import { LoadGenerator } from './lib/plainRtp.ts';
import { SrtpReceivers } from './lib/srtpLoad.ts';
import { median, round } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    bin: { type: 'string', multiple: true },
    reps: { type: 'string', default: '3' },
    'window-ms': { type: 'string', default: '5000' },
    out: {
      type: 'string',
      default: new URL('./results/worker-builds.json', import.meta.url).pathname,
    },
  },
});
const builds = (values.bin ?? []).map((spec) => {
  const [name, path] = spec.split('=');
  if (!name || !path) throw new Error(`--bin NAME=PATH, got ${spec}`);
  return { name, path };
});
if (builds.length === 0) throw new Error('give at least one --bin NAME=PATH');
const reps = Number(values.reps);
const windowMs = Number(values['window-ms']);

const load = await LoadGenerator.start();
const receivers = await SrtpReceivers.start();
const runs = new Map<string, ForwardingCostResult[]>(builds.map((b) => [b.name, []]));
try {
  for (let rep = 0; rep < reps; rep++) {
    for (const build of builds) {
      console.log(`rep ${rep + 1}/${reps}: ${build.name}`);
      const result = await measureForwardingCost({
        load,
        receivers,
        producers: 5,
        consumersPerProducer: 20,
        rounds: 1,
        windowMs,
        workerBin: build.path,
        log: (line) => console.log(line),
      });
      runs.get(build.name)?.push(result);
    }
  }
} finally {
  await receivers.stop();
  await load.stop();
}

const variants = ['srtpGcm', 'srtpAesCm', 'plain', 'plainBrowserCaps'] as const;
const summary = builds.map(({ name, path }) => {
  const results = runs.get(name) ?? [];
  const pick = (field: 'usPerPacket' | 'userUsPerPacket') =>
    Object.fromEntries(variants.map((v) => [v, round(median(results.map((r) => r[field][v])), 2)]));
  return { name, path, usPerPacket: pick('usPerPacket'), userUsPerPacket: pick('userUsPerPacket') };
});
console.log(`\n| build | ${variants.map((v) => `${v} µs (user)`).join(' | ')} |`);
console.log(`| --- | ${variants.map(() => '---').join(' | ')} |`);
for (const s of summary) {
  const cells = variants.map((v) => `${s.usPerPacket[v]} (${s.userUsPerPacket[v]})`);
  console.log(`| ${s.name} | ${cells.join(' | ')} |`);
}
writeFileSync(
  values.out as string,
  `${JSON.stringify({ reps, windowMs, summary, date: new Date().toISOString() }, null, 2)}\n`,
);
process.exit(0);
