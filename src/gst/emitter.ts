import { EventEmitter } from 'node:events';
import type { TypedEmitter } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
type Listener = (...args: any[]) => void;

/** Reports an exception thrown by an event listener (`owner` is the pipeline's name, `event` the event). */
export type ListenerErrorHandler = (err: unknown, owner: string, event: string) => void;

let listenerErrorHandler: ListenerErrorHandler = (err, owner, event) => {
  process.emitWarning(`${owner}: a "${event}" listener threw: ${(err as Error)?.stack ?? String(err)}`, 'GstWarning');
};

/**
 * Where listener exceptions go (the server logs them and counts them). Events arrive from the addon's
 * threadsafe function: an exception escaping there is fatal to the whole process, so none may escape.
 */
export function onListenerError(handler: ListenerErrorHandler): void {
  listenerErrorHandler = handler;
}

/** Hands an exception to the listener error handler; never throws. */
export function reportListenerError(err: unknown, owner: string, event: string): void {
  try {
    listenerErrorHandler(err, owner, event);
  } catch {
    // a failing error handler must not turn into the fatal exception either
  }
}

/**
 * A typed wrapper over EventEmitter. One session's trouble must never bring the server down: an 'error'
 * event nobody listens to becomes a process warning, and a listener that throws is reported and skipped
 * (the other listeners still run).
 */
export class Events<E extends { [K in keyof E]: unknown[] }> implements TypedEmitter<E> {
  readonly #emitter = new EventEmitter();

  constructor(private readonly owner: string) {}

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as unknown as Listener);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as unknown as Listener);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as unknown as Listener);
    return this;
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    if (event === 'error' && this.#emitter.listenerCount('error') === 0) {
      const detail = (args[0] as { message?: string } | undefined)?.message ?? 'unknown error';
      process.emitWarning(`${this.owner}: unhandled GStreamer error: ${detail}`, 'GstWarning');
      return;
    }
    // rawListeners: once() wrappers remove themselves when called, as emit() would.
    for (const listener of this.#emitter.rawListeners(event) as Listener[]) {
      try {
        listener(...args);
      } catch (err) {
        reportListenerError(err, this.owner, event);
      }
    }
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
