import { randomUUID } from 'node:crypto';
import type { Services } from '../context.ts';
import type { DomainEvent } from '../events/bus.ts';
import {
  addConnection,
  heartbeat,
  orphanedConnections,
  registerInstance,
  removeConnection,
  unregisterInstance,
  type ConnectionRecord,
  type PresenceChange,
} from './repository.ts';

export interface PresenceTiming {
  /** how often this instance proves it is alive */
  heartbeatMs: number;
  /** an instance silent for longer is dead: survivors take its users offline */
  instanceTimeoutMs: number;
}

/** SPEC §5: users of a crashed instance go offline within 60 s (30 s timeout + ≤10 s reaper period). */
export const DEFAULT_PRESENCE_TIMING: PresenceTiming = { heartbeatMs: 10_000, instanceTimeoutMs: 30_000 };

/**
 * Online status from graphql-ws connections, shared by all instances through the database.
 * Each instance heartbeats; every instance also reaps the connections of dead ones.
 */
export class PresenceService {
  readonly instanceId = randomUUID();
  private readonly live = new Map<string, ConnectionRecord>();
  /** connections closed here whose removal from the database failed; retried by tick() */
  private readonly pendingRemoval = new Map<string, Who>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly services: Services,
    private readonly timing: PresenceTiming = DEFAULT_PRESENCE_TIMING,
  ) {}

  async start(): Promise<void> {
    const wall = new Date();
    await registerInstance(this.services.db, this.instanceId, wall, this.aliveUntil(wall));
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick()).catch((error) => this.services.log.error({ err: error }, 'presence heartbeat failed'));
    }, this.timing.heartbeatMs);
    this.timer.unref();
  }

  /** Takes this instance's users offline (their sockets are being closed) and leaves the cluster. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await Promise.allSettled([...this.live.keys()].map((id) => this.disconnect(id)));
    await unregisterInstance(this.services.db, this.instanceId);
  }

  async connect(c: Omit<ConnectionRecord, 'instanceId'>): Promise<void> {
    const record = { ...c, instanceId: this.instanceId };
    this.live.set(c.connectionId, record);
    try {
      await this.add(record, this.services.clock.now());
    } catch (error) {
      this.live.delete(c.connectionId);
      throw error;
    }
  }

  async disconnect(connectionId: string): Promise<void> {
    const record = this.live.get(connectionId);
    if (!record) return;
    this.live.delete(connectionId);
    try {
      await this.remove(record, this.services.clock.now());
    } catch (error) {
      // the row would keep the user online for as long as this instance lives: retry on each tick
      this.pendingRemoval.set(connectionId, record);
      throw error;
    }
  }

  /** A connection's row and, when it is its platform's first, the online event: one transaction. */
  private add(record: ConnectionRecord, now: Date): Promise<void> {
    return this.services.events.write({ appKey: record.appKey, userIds: [record.userId] }, async (trx, recordEvent) => {
      const change = await addConnection(trx, record, now);
      if (change) recordEvent(presenceEvent(change));
    });
  }

  /** Forgets a connection and, when it was its platform's last, records the offline event with it. */
  private remove(who: Who, now: Date, options: { onlyOrphaned?: boolean } = {}): Promise<void> {
    return this.services.events.write({ appKey: who.appKey, userIds: [who.userId] }, async (trx, recordEvent) => {
      const change = await removeConnection(trx, who.connectionId, now, options);
      if (change) recordEvent(presenceEvent(change));
    });
  }

  /**
   * One heartbeat and one reaper pass (exposed for tests). Liveness is wall-clock time on every
   * instance, whatever clock the service uses for change times: instances must agree on it.
   */
  async tick(): Promise<void> {
    const now = this.services.clock.now();
    const wall = new Date();
    for (const [connectionId, who] of [...this.pendingRemoval]) {
      await this.remove(who, now);
      this.pendingRemoval.delete(connectionId);
    }
    if (!(await heartbeat(this.services.db, this.instanceId, wall, this.aliveUntil(wall)))) {
      // Judged dead while alive (e.g. a long pause): come back and put our users online again.
      await registerInstance(this.services.db, this.instanceId, wall, this.aliveUntil(wall));
      for (const record of this.live.values()) await this.add(record, now).catch(() => {});
    }
    const orphans = await orphanedConnections(this.services.db, wall, new Date(wall.getTime() - this.timing.instanceTimeoutMs));
    for (const orphan of orphans) await this.remove(orphan, now, { onlyOrphaned: true });
  }

  /** This instance counts as alive until this long after a heartbeat at `wall`; every reaper honours it. */
  private aliveUntil(wall: Date): Date {
    return new Date(wall.getTime() + this.timing.instanceTimeoutMs);
  }
}

type Who = Pick<ConnectionRecord, 'connectionId' | 'appKey' | 'userId'>;

function presenceEvent(change: PresenceChange): DomainEvent {
  return {
    type: 'presenceChanged',
    appKey: change.appKey,
    userId: change.userId,
    version: change.version,
    incarnation: change.incarnation,
    details: change.details.map((d) => ({ platform: d.platform, online: d.online, changeTime: d.changeTime.toISOString() })),
    at: change.changeTime.toISOString(),
  };
}
