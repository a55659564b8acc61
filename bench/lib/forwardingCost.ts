/**
 * Point 1, forwarding cost: worker CPU time per forwarded audio packet, for real WebRTC
 * receivers (werift: ICE + DTLS + SRTP through the WebRtcServer, with each SRTP profile),
 * for SRTP PlainTransports to sockets that only count (what the capacity steps use, as
 * werift cannot scale: checked here against the WebRTC figure) and for plain-RTP
 * consumers (no encryption), on one bare router. The
 * producers are plain RTP (Opus-sized, 50 packets/s). Every variant exists at once with
 * its consumers paused; windows rotate through the variants so drift hits all alike.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import { type SrtpProfileName, weriftRtpCapabilities } from '../../test/support/weriftPeer.ts';
import { startBareMediasoup } from './bareMediasoup.ts';
import { measureWindow, type StepResult, summarizeWindows, type WindowDelta } from './measure.ts';
import {
  type ConsumerCaps,
  connectToReceiver,
  createPlainTransport,
  type LoadGenerator,
} from './plainRtp.ts';
import { producerRtpParameters } from './rtpPacket.ts';
import type { SrtpReceivers } from './srtpLoad.ts';
import { median, round } from './stats.ts';

const TAG = 10;

export type ForwardingCostOptions = {
  load: LoadGenerator;
  receivers: SrtpReceivers;
  producers: number;
  /** Receivers per variant; each consumes every producer. */
  consumersPerProducer: number;
  rounds: number;
  windowMs: number;
  log: (line: string) => void;
  /** Another mediasoup-worker build to measure (default: the installed one). */
  workerBin?: string;
};

type Variant = {
  name: 'srtpGcm' | 'srtpAesCm' | 'plainSrtpGcm' | 'plain' | 'plainBrowserCaps';
  consumers: types.Consumer[];
  /** werift receivers' keys (SRTP variants). */
  keys?: string[];
  profile?: SrtpProfileName;
  windows: WindowDelta[];
};

export type ForwardingCostResult = {
  /** µs of worker CPU per forwarded packet, medians over windows. */
  usPerPacket: Record<Variant['name'], number>;
  /** The user-time part of it. */
  userUsPerPacket: Record<Variant['name'], number>;
  /**
   * Times the worker was preempted (ru_nivcsw) per packet it received, medians: on
   * loopback each send wakes a receiver that may take the core (the floor counts the same).
   */
  preemptionsPerPacket: Record<Variant['name'], number>;
  /** The profile werift and mediasoup agree on when nothing is forced. */
  defaultSrtpProfile: SrtpProfileName | undefined;
  steps: Record<Variant['name'], StepResult>;
  producers: number;
  consumersPerVariant: number;
};

export async function measureForwardingCost(
  options: ForwardingCostOptions,
): Promise<ForwardingCostResult> {
  const { load, receivers, producers: producerCount, consumersPerProducer, log } = options;
  const bare = await startBareMediasoup(options.workerBin);
  const transports: types.Transport[] = [];
  try {
    const { router, webRtcServer, worker } = bare;
    const producers: types.Producer[] = [];
    for (let i = 0; i < producerCount; i++) {
      const transport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: true,
        comedia: true,
      });
      transports.push(transport);
      const ssrc = load.ssrc();
      producers.push(
        await transport.produce({
          kind: 'audio',
          rtpParameters: producerRtpParameters(ssrc) as unknown as types.RtpParameters,
        }),
      );
      await load.addStreams([
        { port: transport.tuple.localPort, ssrc, tag: TAG, fanout: 0, kind: 'talk' },
      ]);
    }

    // Which profile a browser-like client ends up with when nothing is forced.
    const probe = await receivers.connect({ router, webRtcServer, producers, count: 1 });
    for (const t of probe.transports) t.close();
    log(`  default SRTP profile: ${probe.profile}`);

    const variants: Variant[] = [];
    for (const profile of ['AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'] as const) {
      const group = await receivers.connect({
        router,
        webRtcServer,
        producers,
        count: consumersPerProducer,
        profile,
      });
      if (group.profile !== profile) throw new Error(`asked for ${profile}, got ${group.profile}`);
      transports.push(...group.transports);
      const name = profile === 'AEAD_AES_128_GCM' ? 'srtpGcm' : 'srtpAesCm';
      variants.push({ name, consumers: group.consumers, keys: group.keys, profile, windows: [] });
    }
    for (const [name, caps, srtp] of [
      ['plainSrtpGcm', 'webrtc', 'AEAD_AES_128_GCM'],
      ['plain', 'webrtc', undefined],
      ['plainBrowserCaps', 'browser', undefined],
    ] as const) {
      const consumers = await plainConsumers({
        router,
        producers,
        caps,
        srtp,
        count: consumersPerProducer,
        load,
        transports,
      });
      variants.push({ name, consumers, windows: [] });
    }
    log(`  ${variants.length} variants x ${consumersPerProducer * producerCount} consumers ready`);

    await load.setEnabled(TAG, true);
    for (let round = 0; round < options.rounds; round++) {
      for (const variant of variants) {
        await Promise.all(
          variants.flatMap((v) => v.consumers.map((c) => (v === variant ? c.resume() : c.pause()))),
        );
        await sleep(1000);
        const keys = variant.keys;
        variant.windows.push(
          await measureWindow(
            [worker],
            load,
            options.windowMs,
            keys ? () => receivers.received(keys) : undefined,
          ),
        );
      }
    }
    await load.setEnabled(TAG, false);

    const perProducer = consumersPerProducer;
    const steps = {} as Record<Variant['name'], StepResult>;
    const usPerPacket = {} as Record<Variant['name'], number>;
    const userUsPerPacket = {} as Record<Variant['name'], number>;
    const preemptionsPerPacket = {} as Record<Variant['name'], number>;
    for (const variant of variants) {
      const forwarded = (w: WindowDelta) => (w.tags[TAG]?.sent ?? 0) * perProducer;
      const received = variant.keys
        ? (w: WindowDelta) => w.extra
        : (w: WindowDelta) => w.tags[TAG]?.received ?? 0;
      const step = summarizeWindows(variant.windows, [TAG], { forwarded, received });
      steps[variant.name] = step;
      usPerPacket[variant.name] = step.usPerPacket;
      userUsPerPacket[variant.name] = step.userUsPerPacket;
      preemptionsPerPacket[variant.name] = round(
        median(variant.windows.map((w) => w.preemptions / Math.max(1, w.tags[TAG]?.sent ?? 0))),
        3,
      );
      log(
        `  ${variant.name.padEnd(17)} ${step.usPerPacket.toFixed(2)} µs/packet ` +
          `(user ${step.userUsPerPacket.toFixed(2)}), ` +
          `${preemptionsPerPacket[variant.name]} preemptions per packet in, ` +
          `${step.forwardedPps} packets/s, worker ${step.workerCpuPct}%, loss ${step.lossPct}%, ` +
          `load generator ${step.loadgenCpuPct}%`,
      );
    }
    return {
      usPerPacket,
      userUsPerPacket,
      preemptionsPerPacket,
      defaultSrtpProfile: probe.profile,
      steps,
      producers: producerCount,
      consumersPerVariant: perProducer * producerCount,
    };
  } finally {
    await load.removeStreams(TAG);
    for (const t of transports) t.close();
    bare.close();
  }
}

/** `count` plain transports to the load generator, each consuming every producer, paused. */
async function plainConsumers(options: {
  router: types.Router;
  producers: types.Producer[];
  caps: ConsumerCaps;
  srtp: types.SrtpCryptoSuite | undefined;
  count: number;
  load: LoadGenerator;
  transports: types.Transport[];
}): Promise<types.Consumer[]> {
  const { router, producers, caps, srtp, count, load } = options;
  const rtpCapabilities = caps === 'browser' ? router.rtpCapabilities : weriftRtpCapabilities;
  const consumers: types.Consumer[] = [];
  for (let i = 0; i < count; i++) {
    const transport = await createPlainTransport(router, { comedia: false, srtp });
    options.transports.push(transport);
    await connectToReceiver(transport, load.ports[i % load.ports.length] as number);
    for (const producer of producers) {
      consumers.push(
        await transport.consume({ producerId: producer.id, rtpCapabilities, paused: true }),
      );
    }
  }
  if (srtp) {
    await load.tagSrtpSsrcs(
      TAG,
      consumers.map((c) => c.rtpParameters.encodings?.[0]?.ssrc as number),
    );
  }
  return consumers;
}
