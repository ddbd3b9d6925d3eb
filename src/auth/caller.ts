import { createHash, timingSafeEqual } from 'node:crypto';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { AppRow, Database, UsersTable } from '../db/database.ts';
import { findApp } from '../apps/repository.ts';
import { safeEqual, verifySecret } from './secrets.ts';
import { Batcher } from '../db/batcher.ts';

type UserWithApp = Pick<Selectable<UsersTable>, 'userId' | 'tokenGeneration'> & AppRow;

/**
 * Every user-token request and connect: the token generation (revocation) and the app, in one
 * indexed lookup for all the callers that arrive while one is in flight (a reconnect storm of
 * thousands costs a handful of statements).
 */
async function usersWithApps(db: Kysely<Database>, keys: readonly { appKey: string; userId: string }[]): Promise<(UserWithApp | undefined)[]> {
  const { rows } = await sql<UserWithApp>`
    select u.user_id, u.token_generation, a.app_key, a.name, a.secret_hash, a.default_profile_visibility, a.default_friend_add_permission, a.created_at
    from unnest(${keys.map((k) => k.appKey)}::text[], ${keys.map((k) => k.userId)}::text[]) as k(a, u)
    join users u on u.app_key = k.a and u.user_id = k.u
    join apps a on a.app_key = u.app_key`.execute(db);
  const found = new Map(rows.map((r) => [`${r.appKey}\u0000${r.userId}`, r]));
  return keys.map((k) => found.get(`${k.appKey}\u0000${k.userId}`));
}

/**
 * One AppRow object per app and version of its settings: every caller (and so every open socket)
 * of an app shares it instead of holding its own copy of the row.
 */
class AppRows {
  private readonly byKey = new Map<string, AppRow>();

  shared(row: AppRow): AppRow {
    const known = this.byKey.get(row.appKey);
    if (
      known &&
      known.name === row.name &&
      safeEqual(known.secretHash, row.secretHash) &&
      known.defaultProfileVisibility === row.defaultProfileVisibility &&
      known.defaultFriendAddPermission === row.defaultFriendAddPermission &&
      known.createdAt.getTime() === row.createdAt.getTime()
    ) {
      return known;
    }
    this.byKey.set(row.appKey, row);
    return row;
  }
}

/** Callers looked up together at most (one statement). */
const LOOKUP_BATCH = 500;

import type { TokenService } from './tokens.ts';

/** Who is calling, decided once per request (or per graphql-ws connection) from its credentials. */
export type Caller =
  | { kind: 'anonymous'; /** why credentials that were given were refused */ problem?: string }
  | {
      kind: 'user';
      app: AppRow;
      userId: string;
      /** generation of the token used; revocation closes older sockets */
      tokenGeneration: number;
      /** when the token used expires (ms since the epoch): a socket opened with it is closed then */
      tokenExpiresAtMs: number;
    }
  | { kind: 'app'; app: AppRow }
  | { kind: 'operator' };

export interface CallerResolverDeps {
  db: Kysely<Database>;
  tokens: TokenService;
  operatorToken?: string;
}

/** Successful Basic checks are remembered briefly so that the slow hash is not paid per request. */
const BASIC_CACHE_MS = 5 * 60_000;
/** Failed ones too (by digest), so repeating a wrong secret costs no hash. */
const BASIC_FAILURE_CACHE_MS = 30_000;
const BASIC_FAILURE_CACHE_MAX = 10_000;
/** At most this many slow hashes at once: wrong secrets cannot occupy the whole thread pool. */
const MAX_CONCURRENT_HASHES = 2;

export class CallerResolver {
  private readonly verifiedSecrets = new Map<string, { digest: Buffer; until: number }>();
  private readonly failedDigests = new Map<string, number>();
  private hashing = 0;
  private readonly hashQueue: (() => void)[] = [];
  private readonly lookups: Batcher<{ appKey: string; userId: string }, UserWithApp | undefined>;
  private readonly appRows = new AppRows();

  constructor(private readonly deps: CallerResolverDeps) {
    this.lookups = new Batcher((keys) => usersWithApps(deps.db, keys), LOOKUP_BATCH);
  }

  async fromAuthorization(header: string | null | undefined): Promise<Caller> {
    if (!header) return { kind: 'anonymous' };
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (space < 0 || !value) return { kind: 'anonymous', problem: 'malformed Authorization header' };
    if (scheme === 'bearer') return this.fromBearer(value);
    if (scheme === 'basic') return this.fromBasic(value);
    return { kind: 'anonymous', problem: `unsupported Authorization scheme "${scheme}"` };
  }

  async fromBearer(token: string): Promise<Caller> {
    if (this.deps.operatorToken && safeEqual(token, this.deps.operatorToken)) return { kind: 'operator' };
    return this.fromUserToken(token);
  }

  /** A user token: signature and expiry offline, then one indexed lookup for revocation and the app. */
  async fromUserToken(token: string): Promise<Caller> {
    const claims = await this.deps.tokens.verify(token);
    if (!claims) return { kind: 'anonymous', problem: 'invalid or expired token' };
    const row = await this.lookups.submit({ appKey: claims.appKey, userId: claims.userId });
    if (!row || row.tokenGeneration !== claims.generation) return { kind: 'anonymous', problem: 'token revoked' };
    const { tokenGeneration, userId: _userId, ...app } = row;
    return { kind: 'user', app: this.appRows.shared(app), userId: claims.userId, tokenGeneration, tokenExpiresAtMs: claims.expiresAtMs };
  }

  private async limitedHash<T>(work: () => Promise<T>): Promise<T> {
    // a finishing hash hands its slot straight to the next waiter, so the cap is never exceeded
    if (this.hashing >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => this.hashQueue.push(resolve));
    else this.hashing++;
    try {
      return await work();
    } finally {
      const next = this.hashQueue.shift();
      if (next) next();
      else this.hashing--;
    }
  }

  private async fromBasic(encoded: string): Promise<Caller> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { kind: 'anonymous', problem: 'malformed Basic credentials' };
    const appKey = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const app = await findApp(this.deps.db, appKey);
    if (!app) return { kind: 'anonymous', problem: 'invalid app credentials' };
    const digest = createHash('sha256').update(`${appKey}:${secret}`).digest();
    const cached = this.verifiedSecrets.get(appKey);
    if (cached && cached.until > Date.now() && timingSafeEqual(cached.digest, digest)) return { kind: 'app', app };
    const failedKey = digest.toString('base64');
    if ((this.failedDigests.get(failedKey) ?? 0) > Date.now()) return { kind: 'anonymous', problem: 'invalid app credentials' };
    if (!(await this.limitedHash(() => verifySecret(secret, app.secretHash)))) {
      if (this.failedDigests.size >= BASIC_FAILURE_CACHE_MAX) this.failedDigests.delete(this.failedDigests.keys().next().value!);
      this.failedDigests.set(failedKey, Date.now() + BASIC_FAILURE_CACHE_MS);
      return { kind: 'anonymous', problem: 'invalid app credentials' };
    }
    this.verifiedSecrets.set(appKey, { digest, until: Date.now() + BASIC_CACHE_MS });
    return { kind: 'app', app };
  }
}
