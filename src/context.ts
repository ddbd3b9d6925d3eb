import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { CallerResolver, Caller } from './auth/caller.ts';
import type { TokenService } from './auth/tokens.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { AppRow, Database, ExtProfileKeyRow, UserRow } from './db/database.ts';
import type { EventBus } from './events/bus.ts';
import type { EventLog } from './events/log.ts';
import type { CursorCodec } from './events/cursor.ts';
import type { Logger } from './observability/logger.ts';
import type { Metrics } from './observability/metrics.ts';
import { listExtProfileKeys } from './apps/repository.ts';
import { findUsers } from './profiles/repository.ts';
import { VisibilityDecisions } from './visibility/decisions.ts';
import type { RealtimeConnection } from './realtime/connection.ts';

/** What lives as long as the server: shared by every request. */
export interface Services {
  config: Config;
  db: Kysely<Database>;
  clock: Clock;
  tokens: TokenService;
  callers: CallerResolver;
  bus: EventBus;
  /** commits changes with their events (every write that someone is told about goes through it) */
  events: EventLog;
  /** resume points of userEvents, bound to their user */
  cursors: CursorCodec;
  log: Logger;
  metrics: Metrics;
}

/** Per-request loaders: each batches and caches its reads for one request only. */
export interface Loaders {
  profile: DataLoader<string, UserRow | null>;
  extKeys: () => Promise<ExtProfileKeyRow[]>;
}

export interface Context extends Services {
  caller: Caller;
  /** X-Device-Id of the HTTP request, or the socket's deviceId */
  deviceId?: string;
  /** set when the operation arrives over a graphql-ws socket */
  connectionId?: string;
  connection?: RealtimeConnection;
  loaders: Loaders;
  /** null for callers that see no profiles (anonymous, operator) */
  visibility: VisibilityDecisions | null;
}

export function appOf(caller: Caller): AppRow | null {
  return caller.kind === 'user' || caller.kind === 'app' ? caller.app : null;
}

export function createContext(services: Services, caller: Caller, extra: { deviceId?: string; connectionId?: string; connection?: RealtimeConnection } = {}): Context {
  const app = appOf(caller);
  const appKey = app?.appKey ?? '';
  let extKeys: Promise<ExtProfileKeyRow[]> | undefined;
  const loaders: Loaders = {
    profile: new DataLoader(async (ids) => {
      const rows = await findUsers(services.db, appKey, ids);
      const byId = new Map(rows.map((r) => [r.userId, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    extKeys: () => (extKeys ??= listExtProfileKeys(services.db, appKey)),
  };
  const visibility =
    caller.kind === 'user'
      ? new VisibilityDecisions(services.db, caller.app, { kind: 'user', userId: caller.userId })
      : caller.kind === 'app'
        ? new VisibilityDecisions(services.db, caller.app, { kind: 'backend' })
        : null;
  return { ...services, caller, ...extra, loaders, visibility };
}
