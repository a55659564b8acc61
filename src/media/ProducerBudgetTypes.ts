import type { types } from 'mediasoup';

/** What one microphone may send: PRODUCER_MAX_KBPS, averaged over PRODUCER_BUDGET_WINDOW_MS. */
export type ProducerBudgetLimits = {
  maxKbps: number;
  windowMs: number;
};

export type ProducerBudgetOptions = ProducerBudgetLimits & {
  producer: types.Producer;
};

export type ProducerBudgetEvents = {
  /** The mean over the window went past the budget; emitted once, then the budget closes. */
  exceeded: [kbps: number];
};
