/** What the numbers were measured on: they mean little without it. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import * as mediasoup from 'mediasoup';

export type Machine = {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  os: string;
  node: string;
  mediasoup: string;
  workerBinary: { path: string; sha256: string; srtpCrypto: string };
  /** 1-minute load average when the run started: other work on the machine skews it. */
  loadAverageAtStart: number;
  date: string;
};

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Which crypto library the worker's libsrtp does its AES with (from the shared libraries). */
function srtpCrypto(binary: string): string {
  try {
    const libs = execFileSync('ldd', [binary], { encoding: 'utf8' });
    const srtp = /libsrtp2\.so[^\s]* => (\S+)/.exec(libs)?.[1];
    if (!srtp) {
      // A static libsrtp2 names its AES-GCM backend in the binary's own strings.
      const image = readFileSync(binary);
      if (image.includes('srtp_aes_gcm_128_openssl')) return 'OpenSSL (libsrtp2 linked statically)';
      if (image.includes('srtp_aes_gcm_128_nss')) return 'NSS (libsrtp2 linked statically)';
      return 'libsrtp2 linked statically (crypto backend unknown)';
    }
    const srtpLibs = execFileSync('ldd', [srtp], { encoding: 'utf8' });
    if (srtpLibs.includes('libnss3')) return `NSS (${srtp})`;
    if (srtpLibs.includes('libcrypto')) return `OpenSSL (${srtp})`;
    return `built-in (${srtp})`;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const binary = process.env.MEDIASOUP_WORKER_BIN ?? mediasoup.workerBin;
  let sha256 = 'unknown';
  try {
    sha256 = createHash('sha256').update(readFileSync(binary)).digest('hex').slice(0, 16);
  } catch {
    // Reported as unknown.
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os: osName(),
    node: process.version,
    mediasoup: mediasoup.version,
    workerBinary: { path: binary, sha256, srtpCrypto: srtpCrypto(binary) },
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
  };
}
