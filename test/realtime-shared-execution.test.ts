/**
 * One change reaches many receivers through a result executed once per operation shape and
 * audience (src/realtime/shared-execution.ts). Each receiver must still get exactly what executing
 * its own operation over its own event gives: its own subscription time and expiry (under aliases,
 * inside fragments, behind @include), its own audience's cut of the profile, and the other type's
 * null per-receiver fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFriends, setMyVisibility, updateMy } from './helpers/profiles.ts';
import { goLive, subscribe, subscribedUsers, waitUntil } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';

let server: TestServer;
let app: TestApp;
beforeAll(async () => {
  server = await startTestServer();
  app = await server.newApp();
});
afterAll(() => server?.stop());

const DOCUMENT = `subscription Changes($withExpiry: Boolean!) {
  change: subscribedUserStatusChange(types: [USER_PROFILE, FRIEND_USER_PROFILE]) {
    __typename
    ...Status
    ... on SubscribedUserStatusSyncFinished { subscribeType }
  }
}
fragment Status on UserStatusChange {
  who: userId
  subscribeType
  since: subscribeTime
  expiry @include(if: $withExpiry)
  ... on SubscribedUserStatusEvent { ... on UserStatusChange { lifetime: expiry } }
  userProfile { userId name email restricted }
}`;

interface Change {
  __typename: string;
  who?: string;
  subscribeType: string;
  since?: string | null;
  expiry?: number | null;
  lifetime?: number | null;
  userProfile?: { userId: string; name: string; email: string | null; restricted: boolean };
}

async function listen(live: LiveClient, withExpiry: boolean): Promise<LiveSubscription<{ change: Change }>> {
  const sub = live.subscribe<{ change: Change }>(DOCUMENT, { withExpiry });
  await waitUntil(sub, () => sub.events.filter((e) => e.change.__typename === 'SubscribedUserStatusSyncFinished').length === 2);
  return sub;
}

/** what arrived after the sync (the sync itself sends each subscription's current state first) */
function liveChanges(sub: LiveSubscription<{ change: Change }>): Change[] {
  const events = sub.events.map((e) => e.change);
  let synced = 0;
  const start = events.findIndex((c) => c.__typename === 'SubscribedUserStatusSyncFinished' && ++synced === 2) + 1;
  return events.slice(start);
}

describe('shared execution of one change for many receivers', () => {
  it('gives every receiver its own subscription fields and its own audience’s profile', async () => {
    const star = await app.user('star');
    await updateMy(star, { name: 'Star', email: 'star@example.com' });
    await setMyVisibility(star, 'FRIENDS_ONLY');
    for (const id of ['s1', 's2', 's3', 'fan', 'pal']) await app.user(id);
    await makeFriends(app, 'star', 'fan');
    await makeFriends(app, 'star', 'pal');

    // USER_PROFILE subscriptions made at different times with different lifetimes
    const expiries: Record<string, number> = { s1: 3600, s2: 7200, s3: 600, fan: 900 };
    for (const id of ['s1', 's2', 's3', 'fan']) {
      await subscribe(await app.user(id), 'USER_PROFILE', ['star'], expiries[id]);
      server.clock.advance(5_000);
    }
    const since: Record<string, string> = {};
    for (const id of ['s1', 's2', 's3', 'fan']) {
      const [item] = (await subscribedUsers(await app.user(id), 'USER_PROFILE')).items;
      since[id] = item!.subscribeTime;
    }
    expect(new Set(Object.values(since)).size).toBe(4);

    const subs: Record<string, LiveSubscription<{ change: Change }>> = {};
    for (const id of ['s1', 's2', 'fan', 'pal']) subs[id] = await listen(await goLive(server, app, id), true);
    subs.s3 = await listen(await goLive(server, app, 's3'), false); // same document, other variables

    await updateMy(star, { name: 'Star 2' });
    await waitUntil(null, () => Object.values(subs).every((s) => liveChanges(s).length >= (s === subs.fan ? 2 : 1)), 8000, 'the change at every receiver');

    const restricted = { userId: 'star', name: 'Star 2', email: null, restricted: true };
    const full = { userId: 'star', name: 'Star 2', email: 'star@example.com', restricted: false };
    const subscribed = (id: string, withExpiry: boolean, profile: object) => ({
      __typename: 'UserStatusChange',
      who: 'star',
      subscribeType: 'USER_PROFILE',
      since: since[id],
      ...(withExpiry ? { expiry: expiries[id] } : {}),
      lifetime: expiries[id],
      userProfile: profile,
    });
    const befriended = { __typename: 'UserStatusChange', who: 'star', subscribeType: 'FRIEND_USER_PROFILE', since: null, expiry: null, lifetime: null, userProfile: full };

    expect(liveChanges(subs.s1!)).toEqual([subscribed('s1', true, restricted)]);
    expect(liveChanges(subs.s2!)).toEqual([subscribed('s2', true, restricted)]);
    expect(liveChanges(subs.s3!)).toEqual([subscribed('s3', false, restricted)]);
    expect(Object.keys(liveChanges(subs.s3!)[0]!)).not.toContain('expiry');
    expect(liveChanges(subs.pal!)).toEqual([befriended]);
    const fan = liveChanges(subs.fan!);
    expect(fan).toHaveLength(2);
    expect(fan).toContainEqual(subscribed('fan', true, full));
    expect(fan).toContainEqual(befriended);
  });

  it('delivers text that looks like the spliced JSON placeholders as written (quotes, escaped control characters, backslashes)', async () => {
    const odd = await app.user('odd');
    const watcher = await app.user('oddwatcher');
    await subscribe(watcher, 'USER_PROFILE', ['odd']);
    const sub = await listen(await goLive(server, app, 'oddwatcher'), true);
    // control characters are refused in profiles; their escaped spellings and quotes are not
    const name = String.raw`"\u0002x:1" \u0003 \\ "quoted"`;
    await updateMy(odd, { name });
    await waitUntil(sub, () => liveChanges(sub).length >= 1, 8000, 'the change');
    expect(liveChanges(sub)[0]!.userProfile).toMatchObject({ userId: 'odd', name });
  });
});
