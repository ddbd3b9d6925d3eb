import { randomUUID } from 'node:crypto';
import type { Services } from '../context.ts';
import type { DomainEvent } from '../events/bus.ts';
import { Batcher, causedByItems } from '../db/batcher.ts';
import type { Kysely } from 'kysely';
import type { Database, PresenceVisibility } from '../db/database.ts';
import { findApp } from '../apps/repository.ts';
import { subscribersOfEach } from '../subscriptions/repository.ts';
import { notFound } from '../errors.ts';
import { RC } from '../profiles/rules.ts';
import { checkCustomStatus, effectivePresenceVisibility, liveCustomStatus, type CustomStatusJson } from './rules.ts';
import {
  addConnections,
  changePresenceSettings,
  clearExpiredCustomStatuses,
  dueCustomStatuses,
  dueOfflines,
  heartbeat,
  orphanedConnections,
  presenceOf,
  registerInstance,
  removeConnections,
  settleOfflines,
  unregisterInstance,
  type ConnectionRecord,
  type PendingOffline,
  type PresenceChange,
  type SettingsChange,
} from './repository.ts';

export interface PresenceTiming {
  /** how often this instance proves it is alive */
  heartbeatMs: number;
  /** an instance silent for longer is dead: survivors take its users offline */
  instanceTimeoutMs: number;
  /** a platform's offline waits this long after its last connection closed (SPEC §5); 0: at once */
  offlineGraceMs?: number;
  /** how often expired custom statuses are looked for (SPEC §10: watchers learn within 10 s); default 5 s */
  customStatusSweepMs?: number;
}

/** SPEC §5: users of a crashed instance go offline within 60 s (30 s timeout + ≤10 s reaper period). */
/** Connections (or removals, or due offlines) written in one transaction at most. */
const BATCH = 500;

export const DEFAULT_PRESENCE_TIMING: PresenceTiming = { heartbeatMs: 10_000, instanceTimeoutMs: 30_000 };

/**
 * Online status from graphql-ws connections, shared by all instances through the database.
 * Each instance heartbeats; every instance also reaps the connections of dead ones.
 *
 * Connects, disconnects and due offlines are group-committed (`Batcher`): those that arrive
 * while a transaction of their kind is being written go together in the next one, a handful of
 * set-based statements for the whole batch, so a reconnect storm costs a few transactions per
 * batch instead of one per socket. A connect resolves (and the socket is acknowledged) only once
 * its row and online event are committed: an acknowledged device is online for every instance.
 */
export class PresenceService {
  readonly instanceId = randomUUID();
  private readonly live = new Map<string, ConnectionRecord>();
  /** connections closed here whose removal from the database failed; retried by tick() */
  private readonly pendingRemoval = new Map<string, Who>();
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private stopping = false;
  private ticking: Promise<void> = Promise.resolve();
  /** this instance's timers for offlines it left pending (every instance's tick settles the rest) */
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private readonly connects = new Batcher<ConnectionRecord, void>((records) => this.add(records, this.services.clock.now()), BATCH, causedByItems);
  private readonly disconnects = new Batcher<Who, void>((whos) => this.remove(whos, this.services.clock.now()), BATCH, causedByItems);
  private readonly settles = new Batcher<Omit<PendingOffline, 'dueAt'>, void>((due) => this.settle(due), BATCH, causedByItems);

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
    // a periodic sweep, not a timer per status: it finds the due ones whoever set them, after a restart too
    this.sweepTimer = setInterval(() => {
      this.sweeping = this.sweeping.then(async () => void (await this.expireCustomStatuses())).catch((error) => this.services.log.error({ err: error }, 'custom status expiry failed'));
    }, this.timing.customStatusSweepMs ?? 5000);
    this.sweepTimer.unref();
  }

  /**
   * Takes this instance's users offline (their sockets are being closed) and leaves the cluster.
   * A connection that arrives after this began is refused: its row would outlive the instance.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.sweepTimer);
    await this.ticking;
    await this.sweeping;
    // their devices are likely to reconnect elsewhere: the offlines stay pending, and another
    // instance's tick (or this one's restart) announces those whose grace runs out
    await Promise.allSettled([...this.live.keys()].map((id) => this.disconnect(id)));
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    await unregisterInstance(this.services.db, this.instanceId);
  }

  async connect(c: Omit<ConnectionRecord, 'instanceId'>): Promise<void> {
    if (this.stopping) throw new Error('this instance is shutting down');
    const record = { ...c, instanceId: this.instanceId };
    this.live.set(c.connectionId, record);
    try {
      await this.connects.submit(record);
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
      await this.disconnects.submit(record);
    } catch (error) {
      // the row would keep the user online for as long as this instance lives: retry on each tick
      this.pendingRemoval.set(connectionId, record);
      throw error;
    }
  }

  /** Connections' rows and, for each platform's first, the online events: one transaction. */
  private async add(records: ConnectionRecord[], now: Date): Promise<void[]> {
    await this.services.events.write(records, async (trx, recordEvent) => {
      for (const change of await addConnections(trx, records, now)) recordEvent(presenceEvent(change));
    });
    return records.map(() => undefined);
  }

  /**
   * Forgets connections. For a platform that lost its last one, the offline waits for the grace (a
   * device that comes back in time produces no offline/online pair), or is recorded at once when
   * there is none or the instance holding it died (the reaper: its 30 s were the grace).
   */
  private async remove(whos: Who[], now: Date, options: { onlyOrphaned?: boolean } = {}): Promise<void[]> {
    const graceMs = options.onlyOrphaned ? 0 : (this.timing.offlineGraceMs ?? 0);
    const graceUntil = graceMs > 0 ? new Date(Date.now() + graceMs) : undefined;
    const pending = await this.services.events.write(whos, async (trx, recordEvent) => {
      const outcome = await removeConnections(
        trx,
        whos.map((w) => w.connectionId),
        now,
        { ...options, graceUntil },
      );
      for (const change of outcome.changes) recordEvent(presenceEvent(change));
      return outcome.pending;
    });
    if (pending.length && graceUntil) {
      const timer = setTimeout(() => {
        this.graceTimers.delete(timer);
        for (const p of pending) {
          this.settles.submit(p).catch((error) => this.services.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'announcing an offline failed (the next tick retries)'));
        }
      }, Math.max(0, graceUntil.getTime() - Date.now()));
      timer.unref();
      this.graceTimers.add(timer);
    }
    return whos.map(() => undefined);
  }

  /** Pending offlines whose grace is over: announced now unless their device came back. */
  private async settle(due: Omit<PendingOffline, 'dueAt'>[]): Promise<void[]> {
    await this.services.events.write(due, async (trx, recordEvent) => {
      for (const change of await settleOfflines(trx, due, new Date())) recordEvent(presenceEvent(change));
    });
    return due.map(() => undefined);
  }

  /**
   * One heartbeat and one reaper pass (exposed for tests). Liveness is wall-clock time on every
   * instance, whatever clock the service uses for change times: instances must agree on it.
   */
  async tick(): Promise<void> {
    const now = this.services.clock.now();
    const wall = new Date();
    for (const [connectionId, who] of [...this.pendingRemoval]) {
      await this.disconnects.submit(who);
      this.pendingRemoval.delete(connectionId);
    }
    if (!(await heartbeat(this.services.db, this.instanceId, wall, this.aliveUntil(wall)))) {
      // Judged dead while alive (e.g. a long pause): come back and put our users online again.
      await registerInstance(this.services.db, this.instanceId, wall, this.aliveUntil(wall));
      await Promise.all([...this.live.values()].map((record) => this.connects.submit(record).catch(() => {})));
    }
    const orphans = await orphanedConnections(this.services.db, wall, new Date(wall.getTime() - this.timing.instanceTimeoutMs));
    for (let i = 0; i < orphans.length; i += BATCH) await this.remove(orphans.slice(i, i + BATCH), now, { onlyOrphaned: true });
    // offlines left pending by an instance that died or stopped before its timer fired
    const due = await dueOfflines(this.services.db, new Date());
    if (due.length) await this.settle(due);
  }

  /**
   * Clears custom statuses whose expiry passed (by the service's clock) and tells their watchers
   * (exposed for tests). Every instance sweeps; the conditional update makes each clear happen once.
   */
  async expireCustomStatuses(): Promise<number> {
    let cleared = 0;
    for (;;) {
      const now = this.services.clock.now();
      const due = await dueCustomStatuses(this.services.db, now, BATCH);
      if (due.length === 0) return cleared;
      await this.services.events.write(due, async (trx, recordEvent) => {
        for (const change of await clearExpiredCustomStatuses(trx, due, now)) {
          recordEvent(settingsEvent(change, 'customStatus'));
          cleared++;
        }
      });
      if (due.length < BATCH) return cleared;
    }
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
    visibility: change.visibility,
    customStatus: change.customStatus,
  };
}

function settingsEvent(change: SettingsChange, cause: 'visibility' | 'customStatus' | 'friendship'): DomainEvent {
  return { ...presenceEvent(change), cause, previousVisibility: change.previousVisibility } as DomainEvent;
}

type Deps = Pick<Services, 'db' | 'events' | 'clock'>;

/**
 * Friendships made or ended (inside their transaction, which holds both users' event locks): a
 * FRIENDS_ONLY user's presence appears to, or disappears from, the other party's ONLINE_STATUS
 * subscription. Each such user gets one presence change naming those watchers, and only they hear
 * of it (their FRIEND_ONLINE_STATUS comes and goes with the friendship itself). Nothing is logged
 * for users whose presence visibility does not depend on friendship.
 */
export async function recordFriendshipPresence(trx: Kysely<Database>, recordEvent: (event: DomainEvent) => void, appKey: string, pairs: readonly (readonly [string, string])[], now: Date): Promise<void> {
  if (pairs.length === 0) return;
  const users = [...new Set(pairs.flat())];
  const [states, app] = await Promise.all([presenceOf(trx, appKey, users), findApp(trx, appKey)]);
  const friendsOnly = users.filter((id) => states.has(id) && effectivePresenceVisibility(states.get(id)!.visibility, app?.defaultPresenceVisibility) === 'FRIENDS_ONLY');
  if (friendsOnly.length === 0) return;
  const subscribers = await subscribersOfEach(trx, appKey, friendsOnly, 'ONLINE_STATUS', now);
  for (const subjectId of friendsOnly) {
    const others = new Set(pairs.flatMap(([a, b]) => (a === subjectId ? [b] : b === subjectId ? [a] : [])));
    const watchers = (subscribers.get(subjectId) ?? []).map((s) => s.subscriberId).filter((id) => others.has(id));
    if (watchers.length === 0) continue;
    const change = await changePresenceSettings(trx, appKey, subjectId, {}, now);
    if (change) recordEvent({ ...settingsEvent(change, 'friendship'), watchers } as DomainEvent);
  }
}

/** The user's own setting (NOT_SET included: the owner sees what it chose, not the default it follows). */
export async function myPresenceVisibility(s: Pick<Services, 'db'>, appKey: string, userId: string): Promise<PresenceVisibility> {
  const state = (await presenceOf(s.db, appKey, [userId])).get(userId);
  if (!state) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
  return state.visibility;
}

export async function myCustomStatus(s: Pick<Services, 'db' | 'clock'>, appKey: string, userId: string): Promise<CustomStatusJson | null> {
  const state = (await presenceOf(s.db, appKey, [userId])).get(userId);
  if (!state) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
  return liveCustomStatus(state.customStatus, s.clock.now());
}

/**
 * Changes who may see the user's presence (SPEC §10): one presence change, logged with the setting
 * before it, so the audience pushes one status change to exactly the watchers whose view flips.
 * Setting what is already set changes nothing and tells no one.
 */
export async function updatePresenceVisibility(s: Deps, appKey: string, userId: string, visibility: PresenceVisibility): Promise<PresenceVisibility> {
  return s.events.write({ appKey, userIds: [userId] }, async (trx, recordEvent) => {
    const current = (await presenceOf(trx, appKey, [userId])).get(userId);
    if (!current) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
    if (current.visibility === visibility) return visibility;
    const change = await changePresenceSettings(trx, appKey, userId, { visibility }, s.clock.now());
    recordEvent(settingsEvent(change!, 'visibility'));
    return change!.visibility;
  });
}

/** Sets the user's custom status (checked first: bad input writes nothing) and tells those who may see it. */
export async function setCustomStatus(s: Deps, appKey: string, userId: string, input: { text: string; emoji?: string | null; expiresInSeconds?: number | null }): Promise<CustomStatusJson> {
  const checked = checkCustomStatus(input);
  const now = s.clock.now();
  const expiresAt = checked.expiresInSeconds === null ? null : new Date(now.getTime() + checked.expiresInSeconds * 1000);
  return s.events.write({ appKey, userIds: [userId] }, async (trx, recordEvent) => {
    const change = await changePresenceSettings(trx, appKey, userId, { customStatus: { text: checked.text, emoji: checked.emoji, expiresAt } }, now);
    if (!change) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
    recordEvent(settingsEvent(change, 'customStatus'));
    return change.customStatus!;
  });
}

/** Clears the user's custom status; false (and no event) when none was set. */
export async function clearCustomStatus(s: Deps, appKey: string, userId: string): Promise<boolean> {
  return s.events.write({ appKey, userIds: [userId] }, async (trx, recordEvent) => {
    const current = (await presenceOf(trx, appKey, [userId])).get(userId);
    if (!current) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
    if (!current.customStatus) return false;
    const change = await changePresenceSettings(trx, appKey, userId, { customStatus: null }, s.clock.now());
    recordEvent(settingsEvent(change!, 'customStatus'));
    return true;
  });
}

/**
 * Whether the user is online on any platform now, as anyone else in the app would see it (the
 * RongCloud server API's checkOnline: app backends use it to show strangers whether someone is
 * online): a user whose presence is not visible to everyone (FRIENDS_ONLY, INVISIBLE) reports offline.
 */
export async function isOnline(s: Pick<Services, 'db'>, app: { appKey: string; defaultPresenceVisibility: Exclude<PresenceVisibility, 'NOT_SET'> }, userId: string): Promise<boolean> {
  const state = (await presenceOf(s.db, app.appKey, [userId])).get(userId);
  if (!state || effectivePresenceVisibility(state.visibility, app.defaultPresenceVisibility) !== 'EVERYONE') return false;
  return state.details.some((d) => d.online);
}
