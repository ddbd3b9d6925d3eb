import { createHash, timingSafeEqual } from 'node:crypto';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { AppRow, Database, UsersTable } from '../db/database.ts';
import { findAppWithSecretCheck, saveSecretCheck } from '../apps/repository.ts';
import { SecretCheck, safeEqual, verifySecret } from './secrets.ts';
import type { AbuseLimits } from '../ratelimit/abuse.ts';
import type { Refusal } from '../ratelimit/limiter.ts';
import { Batcher } from '../db/batcher.ts';

type UserWithApp = Pick<Selectable<UsersTable>, 'userId' | 'tokenGeneration' | 'tokensIssuedBefore'> & AppRow;

/**
 * Every user-token request and connect: the token generation (revocation) and the app, in one
 * indexed lookup for all the callers that arrive while one is in flight (a reconnect storm of
 * thousands costs a handful of statements).
 */
async function usersWithApps(db: Kysely<Database>, keys: readonly { appKey: string; userId: string }[]): Promise<(UserWithApp | undefined)[]> {
  const { rows } = await sql<UserWithApp>`
    select u.user_id, u.token_generation, u.tokens_issued_before, a.app_key, a.name, a.secret_hash, a.default_profile_visibility, a.default_friend_add_permission, a.default_presence_visibility, a.created_at
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
      known.defaultPresenceVisibility === row.defaultPresenceVisibility &&
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
  | {
      kind: 'anonymous';
      /** why credentials that were given were refused */
      problem?: string;
      /** the app whose secret was wrong (its failures are limited too) */
      wrongSecretOf?: string;
      /** refused without being checked: this IP spent its failures, or too many checks are waiting */
      throttled?: Refusal;
    }
  | {
      kind: 'user';
      app: AppRow;
      userId: string;
      /** generation of the token used; revocation closes older sockets */
      tokenGeneration: number;
      /** when the token used expires (ms since the epoch): a socket opened with it is closed then */
      tokenExpiresAtMs: number;
      /** when the token used was issued (ms since the epoch): the server API's token expiry compares it */
      tokenIssuedAtMs: number;
    }
  | { kind: 'app'; app: AppRow }
  | { kind: 'operator' };

export interface CallerResolverDeps {
  db: Kysely<Database>;
  tokens: TokenService;
  operatorToken?: string;
  /** the fast check of app secrets (keyed by TOKEN_SECRET) */
  secretCheck: SecretCheck;
  /** per-IP failure budget: fresh Basic credentials from an IP that spent it are not checked */
  abuse?: AbuseLimits;
}

/** Successful Basic checks are remembered briefly so that the slow hash is not paid per request. */
const BASIC_CACHE_MS = 5 * 60_000;
/** Failed ones too (by digest), so repeating a wrong secret costs no hash. */
const BASIC_FAILURE_CACHE_MS = 30_000;
const BASIC_FAILURE_CACHE_MAX = 10_000;
/** At most this many slow hashes at once: wrong secrets cannot occupy the whole thread pool. */
const MAX_CONCURRENT_HASHES = 2;
/** …and at most this many waiting for one; more are refused at once (RATE_LIMITED) rather than queued. */
const MAX_WAITING_HASHES = 16;

export class CallerResolver {
  /** by app key; `secretHash` is the app's when checked, so a rotated secret invalidates it on every instance */
  private readonly verifiedSecrets = new Map<string, { digest: Buffer; until: number; secretHash: string }>();
  private readonly failedDigests = new Map<string, number>();
  /** slow checks in flight, by credential digest */
  private readonly slowChecks = new Map<string, Promise<boolean>>();
  private hashing = 0;
  private readonly hashQueue: (() => void)[] = [];
  private readonly lookups: Batcher<{ appKey: string; userId: string }, UserWithApp | undefined>;
  private readonly appRows = new AppRows();
  /** how many slow hashes of app secrets this instance ran (each costs ~50 ms of a worker thread) */
  readonly stats = { slowHashes: 0 };

  constructor(private readonly deps: CallerResolverDeps) {
    this.lookups = new Batcher((keys) => usersWithApps(deps.db, keys), LOOKUP_BATCH);
  }

  /** `ip`: the client's, for the per-IP failure budget (Basic). */
  async fromAuthorization(header: string | null | undefined, ip?: string): Promise<Caller> {
    if (!header) return { kind: 'anonymous' };
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (space < 0 || !value) return { kind: 'anonymous', problem: 'malformed Authorization header' };
    if (scheme === 'bearer') return this.fromBearer(value);
    if (scheme === 'basic') return this.fromBasic(value, ip);
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
    if (row.tokensIssuedBefore && claims.issuedAtMs < new Date(row.tokensIssuedBefore).getTime()) return { kind: 'anonymous', problem: 'token expired by the app' };
    const { tokenGeneration, tokensIssuedBefore: _before, userId: _userId, ...app } = row;
    return { kind: 'user', app: this.appRows.shared(app), userId: claims.userId, tokenGeneration, tokenExpiresAtMs: claims.expiresAtMs, tokenIssuedAtMs: claims.issuedAtMs };
  }

  private async limitedHash<T>(work: () => Promise<T>): Promise<T> {
    // a finishing hash hands its slot straight to the next waiter, so the cap is never exceeded
    if (this.hashing >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => this.hashQueue.push(resolve));
    else this.hashing++;
    try {
      this.stats.slowHashes++;
      return await work();
    } finally {
      const next = this.hashQueue.shift();
      if (next) next();
      else this.hashing--;
    }
  }

  /**
   * An app's backend. A secret seen to be right is remembered briefly (by digest); a new one is
   * checked against the app's fast keyed check, or, for an app that has none yet (or one under an
   * older TOKEN_SECRET), against the slow hash once — then the fast check is written. Fresh
   * credentials from an IP that spent its failure budget are refused unchecked.
   */
  private async fromBasic(encoded: string, ip: string | undefined): Promise<Caller> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { kind: 'anonymous', problem: 'malformed Basic credentials' };
    const appKey = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const digest = createHash('sha256').update(`${appKey}:${secret}`).digest();
    const cached = this.verifiedSecrets.get(appKey);
    const found = await findAppWithSecretCheck(this.deps.db, appKey);
    if (!found) return { kind: 'anonymous', problem: 'invalid app credentials' };
    const { app } = found;
    if (cached && cached.until > Date.now() && safeEqual(cached.secretHash, app.secretHash) && timingSafeEqual(cached.digest, digest)) return { kind: 'app', app };
    const failedKey = digest.toString('base64');
    if ((this.failedDigests.get(failedKey) ?? 0) > Date.now()) return { kind: 'anonymous', problem: 'invalid app credentials', wrongSecretOf: appKey };
    const throttled = ip === undefined ? null : await this.deps.abuse?.exhausted(ip);
    if (throttled) return { kind: 'anonymous', problem: 'too many failed authentications from this address', throttled };
    let right = this.deps.secretCheck.matches(found.check, appKey, secret);
    if (right === undefined) {
      // the same credentials arriving together (a backend's first burst) share one slow check
      let checking = this.slowChecks.get(failedKey);
      if (!checking) {
        if (this.hashQueue.length >= MAX_WAITING_HASHES) return { kind: 'anonymous', problem: 'too many app secret checks waiting', throttled: { key: 'auth-checks:', retryAfterMs: 1000 } };
        checking = this.limitedHash(() => verifySecret(secret, app.secretHash))
          .then(async (ok) => {
            if (ok) await saveSecretCheck(this.deps.db, appKey, this.deps.secretCheck.keyId, this.deps.secretCheck.of(appKey, secret));
            return ok;
          })
          .finally(() => this.slowChecks.delete(failedKey));
        this.slowChecks.set(failedKey, checking);
      }
      right = await checking;
    }
    if (!right) {
      if (this.failedDigests.size >= BASIC_FAILURE_CACHE_MAX) this.failedDigests.delete(this.failedDigests.keys().next().value!);
      this.failedDigests.set(failedKey, Date.now() + BASIC_FAILURE_CACHE_MS);
      return { kind: 'anonymous', problem: 'invalid app credentials', wrongSecretOf: appKey };
    }
    this.verifiedSecrets.set(appKey, { digest, until: Date.now() + BASIC_CACHE_MS, secretHash: app.secretHash });
    return { kind: 'app', app };
  }
}
