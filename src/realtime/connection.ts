import type { Caller } from '../auth/caller.ts';
import type { Clock } from '../clock.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import { type CommittedSet, wasCommitted } from '../events/repository.ts';
import type { PresenceService } from '../presence/service.ts';
import { type RealtimeMessage, userTopic } from './messages.ts';
import type { UserTopics } from './topics.ts';

/** Close code for a connection that does not read its events fast enough (its buffer overflowed). */
export const CLOSE_SLOW_CONSUMER = 4008;

export interface ConnectionInfo {
  connectionId: string;
  caller: Extract<Caller, { kind: 'user' }>;
  appKey: string;
  userId: string;
  platform: string;
  deviceId?: string;
  tokenGeneration: number;
}

/** The socket as a connection sees it. */
export interface SocketHandle {
  close(code: number, reason: string): void;
  /**
   * Sends a finished graphql-ws message, unless the socket is closed or already holds more than
   * it should for a slow reader (then false: the caller queues it the usual way).
   */
  sendPrepared(text: string): boolean;
}

export interface ConnectionDeps {
  topics: UserTopics;
  presence: PresenceService;
  clock: Clock;
  /** events held for this connection, over all its operations, before it is dropped */
  maxBufferedEvents: number;
  /** what had committed as of this instance's latest read of the event log (EventRelay.lastSeen) */
  committedSoFar(): CommittedSet | undefined;
}

/**
 * One authenticated graphql-ws connection: listens on its user's topic (only), hands each
 * message to the operations that want it, and bounds what it holds for a slow reader.
 */
export class RealtimeConnection {
  private readonly streams = new Set<EventStream<unknown>>();
  private stopListening: (() => void) | undefined;
  private buffered = 0;
  private closed = false;
  private dropped = false;
  private opening: Promise<void> | undefined;

  constructor(
    readonly info: ConnectionInfo,
    /** shared by all connections of the instance */
    private readonly deps: ConnectionDeps,
    private readonly socket: SocketHandle,
  ) {}

  get id(): string {
    return this.info.connectionId;
  }

  /** Listens first, then goes online: a subscriber sees our online event only once we can receive. */
  open(): Promise<void> {
    this.opening ??= (async () => {
      this.stopListening = await this.deps.topics.listen(userTopic(this.info.appKey, this.info.userId), (m) => this.receive(m));
      await this.deps.presence.connect({
        connectionId: this.info.connectionId,
        appKey: this.info.appKey,
        userId: this.info.userId,
        platform: this.info.platform,
        deviceId: this.info.deviceId ?? null,
      });
    })();
    return this.opening;
  }

  /** Ends every stream and takes the connection offline; waits for a half-done open first. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opening?.catch(() => {});
    this.stopListening?.();
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    await this.deps.presence.disconnect(this.info.connectionId);
  }

  /** See SocketHandle.sendPrepared. */
  sendPrepared(text: string): boolean {
    return !this.closed && !this.dropped && this.socket.sendPrepared(text);
  }

  /** Whether a change was made by this very connection (same socket, or same device over HTTP). */
  madeBy(origin: ChangeOrigin): boolean {
    if (origin.by !== 'user') return false;
    return origin.connectionId === this.info.connectionId || (origin.deviceId !== undefined && origin.deviceId === this.info.deviceId);
  }

  /**
   * A stream of the messages `select` maps to a value (undefined = not for this stream).
   * `fromNow`: for streams without a cursor or a sync of their own, only changes committed after
   * the stream started (as far as this instance's latest log read tells: a row that committed
   * before it but is handed over late is left out). A function applies that to the messages it
   * accepts only.
   */
  stream<T>(select: (message: RealtimeMessage) => T | undefined, options: { fromNow?: boolean | ((message: RealtimeMessage) => boolean) } = {}): EventStream<T> {
    const since = options.fromNow ? this.deps.committedSoFar() : undefined;
    const applies = typeof options.fromNow === 'function' ? options.fromNow : () => true;
    const chosen = since ? (m: RealtimeMessage) => ('position' in m && m.position && applies(m) && wasCommitted(since, m.position.x) ? undefined : select(m)) : select;
    const stream = new EventStream<T>(chosen, this);
    if (this.dropped || this.closed) stream.end();
    else this.streams.add(stream as EventStream<unknown>);
    return stream;
  }

  /** @internal bookkeeping of the shared buffer bound */
  held(delta: number): void {
    this.buffered += delta;
    if (this.buffered > this.deps.maxBufferedEvents) this.drop(CLOSE_SLOW_CONSUMER, `slow consumer: more than ${this.deps.maxBufferedEvents} undelivered events`);
  }

  /** Stops taking events at once (frees what is held) and closes the socket. */
  drop(code: number, reason: string): void {
    if (this.dropped || this.closed) return;
    this.dropped = true;
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    this.socket.close(code, reason);
  }

  /** @internal */
  forget(stream: EventStream<unknown>): void {
    this.streams.delete(stream);
  }

  private receive(message: RealtimeMessage): void {
    if (this.closed || this.dropped) return;
    if (message.kind === 'close') {
      const older =
        message.issuedBeforeMs !== undefined
          ? this.info.caller.tokenIssuedAtMs < message.issuedBeforeMs
          : message.belowGeneration === undefined || this.info.tokenGeneration < message.belowGeneration;
      if (older) this.drop(message.code, message.reason);
      return;
    }
    // a subscription that expired while its message was in flight delivers nothing
    if (message.kind === 'status' && message.expiresAt !== null && message.expiresAt <= this.deps.clock.now().getTime()) return;
    for (const stream of this.streams) stream.offer(message);
  }
}

/** An operation's queue of events: pull-based for graphql-ws, push-based for the topic. */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private done = false;
  /**
   * Takes a value while the reader is idle (waiting, nothing queued) and sends it itself; false
   * to hand it to the reader as usual. Order holds: it only runs when nothing is ahead.
   */
  direct: ((value: T) => boolean) | undefined;

  constructor(
    private readonly select: (message: RealtimeMessage) => T | undefined,
    private readonly connection: RealtimeConnection,
  ) {}

  offer(message: RealtimeMessage): void {
    if (this.done) return;
    const value = this.select(message);
    if (value === undefined) return;
    if (this.waiting && this.direct?.(value)) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
      return;
    }
    this.queue.push(value);
    this.connection.held(1);
  }

  /** Drops the held values `keep` refuses, in order (it may remember what it kept). */
  retain(keep: (value: T) => boolean): void {
    const before = this.queue.length;
    const kept = this.queue.filter(keep);
    this.queue.length = 0;
    this.queue.push(...kept);
    this.connection.held(kept.length - before);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length) {
      this.connection.held(-1);
      return Promise.resolve({ value: this.queue.shift()!, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.connection.held(-this.queue.length);
    this.queue.length = 0;
    this.connection.forget(this as EventStream<unknown>);
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
