import { Device } from 'mediasoup-client';
import type { RtpCapabilities } from 'mediasoup-client/types';
import { Signaling } from './signaling.ts';

/**
 * The page's link to the server: socket plus a loaded mediasoup Device, prepared on
 * page load so that clicking Join costs a single round trip.
 */
export class Connection {
  readonly signaling = new Signaling();
  #device: Promise<Device> | undefined;

  constructor() {
    // Warm up now; a failure is retried by the next device() call.
    this.device().catch(() => undefined);
  }

  device(): Promise<Device> {
    this.#device ??= this.#loadDevice().catch((error: unknown) => {
      this.#device = undefined;
      throw error;
    });
    return this.#device;
  }

  async #loadDevice(): Promise<Device> {
    await this.signaling.whenConnected();
    const { routerRtpCapabilities } = await this.signaling.request('capabilities', {});
    const device = await Device.factory();
    await device.load({ routerRtpCapabilities: routerRtpCapabilities as RtpCapabilities });
    return device;
  }
}
