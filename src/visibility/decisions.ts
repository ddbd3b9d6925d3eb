import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { AppRow, Database, UserRow } from '../db/database.ts';
import { friendIdsAmong } from '../friends/repository.ts';
import { type Audience, type ProfileFieldName, fieldSeen, needsFriendship } from './rule.ts';

export type Viewer = { kind: 'user'; userId: string } | { kind: 'backend' };

/**
 * One visibility decision per (owner, viewer) pair per request: the viewer's audience for that
 * owner (self, friend, stranger, backend). Each field then follows the owner's per-field rule
 * (src/visibility/rule.ts) for that audience, without another lookup. The friendship lookups
 * behind it are batched into one query per tick, and made only for owners whose profile or one of
 * whose fields is FRIENDS_ONLY.
 */
export class VisibilityDecisions {
  private readonly decided = new Map<string, Promise<Audience>>();
  private readonly known = new Map<string, Audience>();
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

  /** The app's default profile visibility (what NOT_SET follows). */
  get appDefault(): AppRow['defaultProfileVisibility'] {
    return this.app.defaultProfileVisibility;
  }

  audience(owner: UserRow): Promise<Audience> {
    let decision = this.decided.get(owner.userId);
    if (!decision) {
      decision = this.decide(owner);
      this.decided.set(owner.userId, decision);
      void decision.then((audience) => this.known.set(owner.userId, audience), () => {});
    }
    return decision;
  }

  /**
   * The decision when it is known without waiting: already made, or needing no friendship lookup
   * (then a friend is told apart from no stranger: with nothing FRIENDS_ONLY both see the same, and
   * 'stranger' stands for both). Field resolvers use it to stay synchronous (no promise per field
   * on the hot read path).
   */
  peek(owner: UserRow): Audience | undefined {
    const known = this.known.get(owner.userId);
    if (known) return known;
    let audience: Audience;
    if (this.viewer.kind === 'backend') audience = 'backend';
    else if (this.viewer.userId === owner.userId) audience = 'self';
    else if (needsFriendship(owner, this.app.defaultProfileVisibility)) return undefined;
    else audience = 'stranger';
    this.known.set(owner.userId, audience);
    return audience;
  }

  /** Whether the viewer sees this field of the owner: synchronous when the decision is known. */
  seesField(owner: UserRow, field: ProfileFieldName): boolean | Promise<boolean> {
    const audience = this.peek(owner);
    if (audience !== undefined) return fieldSeen(owner, field, audience, this.app.defaultProfileVisibility);
    return this.audience(owner).then((a) => fieldSeen(owner, field, a, this.app.defaultProfileVisibility));
  }

  /** Decides for several owners at once (one batched friendship lookup), so fields resolve synchronously. */
  async prepare(owners: readonly UserRow[]): Promise<void> {
    await Promise.all(owners.filter((o) => this.peek(o) === undefined).map((o) => this.audience(o)));
  }

  /** Forget cached decisions, e.g. after this request changed a friendship or a visibility. */
  reset(): void {
    this.decided.clear();
    this.known.clear();
    this.friendOfViewer?.clearAll();
  }

  private async decide(owner: UserRow): Promise<Audience> {
    if (this.viewer.kind === 'backend') return 'backend';
    if (this.viewer.userId === owner.userId) return 'self';
    if (!needsFriendship(owner, this.app.defaultProfileVisibility)) return 'stranger';
    return (await this.friendOfViewer!.load(owner.userId)) ? 'friend' : 'stranger';
  }
}

/** The request's visibility decisions: for a user as viewer, for the backend, or none (operator, anonymous). */
export function visibilityFor(db: Kysely<Database>, caller: { kind: string; app?: AppRow; userId?: string }): VisibilityDecisions | null {
  if (caller.kind === 'user' && caller.app && caller.userId) return new VisibilityDecisions(db, caller.app, { kind: 'user', userId: caller.userId });
  if (caller.kind === 'app' && caller.app) return new VisibilityDecisions(db, caller.app, { kind: 'backend' });
  return null;
}
