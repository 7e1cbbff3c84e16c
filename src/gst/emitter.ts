import { EventEmitter } from 'node:events';
import type { TypedEmitter } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
type Listener = (...args: any[]) => void;

/**
 * A typed wrapper over EventEmitter. An 'error' event nobody listens to becomes a process warning instead
 * of an exception: one session's pipeline error must never bring the server down.
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

  /** Listener exceptions propagate: the addon turns them into 'uncaughtException'. */
  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    if (event === 'error' && this.#emitter.listenerCount('error') === 0) {
      const detail = (args[0] as { message?: string } | undefined)?.message ?? 'unknown error';
      process.emitWarning(`${this.owner}: unhandled GStreamer error: ${detail}`, 'GstWarning');
      return;
    }
    this.#emitter.emit(event, ...args);
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
