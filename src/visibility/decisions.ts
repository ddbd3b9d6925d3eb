import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { AppRow, Database, UserRow } from '../db/database.ts';
import { friendIdsAmong } from '../friends/repository.ts';
import { type Access, type Audience, accessFor, effectiveVisibility, needsFriendship } from './rule.ts';

export type Viewer = { kind: 'user'; userId: string } | { kind: 'backend' };

/**
 * One visibility decision per (owner, viewer) pair per request. Field resolvers ask it for
 * every restricted field; the friendship lookups behind it are batched into one query per tick.
 */
export class VisibilityDecisions {
  private readonly decided = new Map<string, Promise<Access>>();
  private readonly known = new Map<string, Access>();
  private readonly friendOfViewer: DataLoader<string, boolean> | undefined;

  constructor(
    db: Kysely<Database>,
    private readonly app: AppRow,
    private readonly viewer: Viewer,
  ) {
    if (viewer.kind === 'user') {
      this.friendOfViewer = new DataLoader(async (ownerIds) => {
        const friends = await friendIdsAmong(db, app.appKey, viewer.userId, ownerIds);
        return ownerIds.map((id) => friends.has(id));
      });
    }
  }

  access(owner: UserRow): Promise<Access> {
    let decision = this.decided.get(owner.userId);
    if (!decision) {
      decision = this.decide(owner);
      this.decided.set(owner.userId, decision);
      void decision.then((access) => this.known.set(owner.userId, access), () => {});
    }
    return decision;
  }

  /**
   * The decision when it is known without waiting: already made, or needing no friendship lookup.
   * Field resolvers use it to stay synchronous (no promise per field on the hot read path).
   */
  peek(owner: UserRow): Access | undefined {
    const known = this.known.get(owner.userId);
    if (known) return known;
    const effective = effectiveVisibility(owner.visibility, this.app.defaultProfileVisibility);
    if (this.viewer.kind === 'user' && this.viewer.userId !== owner.userId && needsFriendship(effective)) return undefined;
    const access = accessFor(effective, this.viewer.kind === 'backend' ? 'backend' : this.viewer.userId === owner.userId ? 'self' : 'stranger');
    this.known.set(owner.userId, access);
    return access;
  }

  /** Decides for several owners at once (one batched friendship lookup), so fields resolve synchronously. */
  async prepare(owners: readonly UserRow[]): Promise<void> {
    await Promise.all(owners.filter((o) => this.peek(o) === undefined).map((o) => this.access(o)));
  }

  /** Forget cached decisions, e.g. after this request changed a friendship or a visibility. */
  reset(): void {
    this.decided.clear();
    this.known.clear();
    this.friendOfViewer?.clearAll();
  }

  private async decide(owner: UserRow): Promise<Access> {
    const effective = effectiveVisibility(owner.visibility, this.app.defaultProfileVisibility);
    let audience: Audience;
    if (this.viewer.kind === 'backend') audience = 'backend';
    else if (this.viewer.userId === owner.userId) audience = 'self';
    else if (needsFriendship(effective)) audience = (await this.friendOfViewer!.load(owner.userId)) ? 'friend' : 'stranger';
    else audience = 'stranger';
    return accessFor(effective, audience);
  }
}

/** The request's visibility decisions: for a user as viewer, for the backend, or none (operator, anonymous). */
export function visibilityFor(db: Kysely<Database>, caller: { kind: string; app?: AppRow; userId?: string }): VisibilityDecisions | null {
  if (caller.kind === 'user' && caller.app && caller.userId) return new VisibilityDecisions(db, caller.app, { kind: 'user', userId: caller.userId });
  if (caller.kind === 'app' && caller.app) return new VisibilityDecisions(db, caller.app, { kind: 'backend' });
  return null;
}
