/**
 * RongCloud's documented Web snippets, run as they are against the SDK on a real server.
 *
 * Each snippet below is the text of RongCloud's Web documentation (the "User Profile Hosting"
 * page, its "Managing friends" page and its "订阅在线状态" (subscribe to online status) page),
 * copied without any change. It runs as the body of an async function whose only parameters are
 * what RongCloud's own setup provides: `RongIMLib` (here: the client of createProfileClient),
 * `Events` (which the profile page's listener snippets use unqualified) and `console`, captured so
 * that the test can read what each snippet printed. Everything around the snippets (creating
 * users, connecting, defining ext keys, a friend sending the application) is setup, done here with
 * the SDK and the backend API.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileClient, Events, type ProfileClient } from '../src/client/index.ts';
import { defineKey, setProfile } from './helpers/profiles.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

// --- the snippets, verbatim ------------------------------------------------------------------

/** User Profile Hosting (Web): "Listen for User Profile Changes" */
const PROFILE_LISTENERS = [
  `/**
* Notifies when subscribed user profiles change.
* RC won't notify you after subscription expiration - monitor expiration time yourself.
*/
RongIMLib.addEventListener(Events.SUBSCRIBED_USER_STATUS_CHANGE, (event) => {
// Use subscribeType in data to determine whether it's profile or online status
console.log('Subscribed user status changed', event)
})`,
  `/**
* Notifies when subscription information changes on other devices.
* Use this to update local user status and maintain subscription consistency.
*/
RongIMLib.addEventListener(Events.SUBSCRIBED_RELATION_CHANGE, (event) => {
// Use subscribeType in data to determine whether it's profile or online status
console.log('Subscription relationship changed', event)
})`,
  `/**
* Notifies when subscription data sync completes.
* Triggered after successfully syncing subscription data to device/system.
*/
RongIMLib.addEventListener(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, (event) => {
// Use subscribeType in data to determine whether it's profile or online status
console.log('Subscription data synced', event)
})`,
  `/**
* Notifies when user profiles change on other devices.
* Triggered after profile modifications on other endpoints.
*/
RongIMLib.addEventListener(Events.OWN_USER_PROFILE_CHANGED, (event) => {
console.log('User profile changed', event)
})`,
];

/** User Profile Hosting (Web): "Update Current User Profile" */
const UPDATE_MY_USER_PROFILE = `  const profile = {
name: 'name',
portraitUri: 'portraitUri',
email: 'email',
birthday: 'birthday',
gender: 1,
location: 'location',
role: 1,
level: 1,
extraProfile: {
key1: 'value1',
key2: 'value2',
},
}
const res = await RongIMLib.updateMyUserProfile(profile);
console.log('Profile update result:', res);`;

/** User Profile Hosting (Web): "Get Current User Profile" */
const GET_MY_USER_PROFILE = `  const res = await RongIMLib.getMyUserProfile();
console.log('Current user profile:', res);`;

/** User Profile Hosting (Web): "Batch Get Other Users' Profiles" */
const GET_USER_PROFILES = `  const userIds = ['user1', 'user2'];
const res = await RongIMLib.getUserProfiles(userIds);
console.log('Batch profile retrieval result:', res);`;

/** User Profile Hosting (Web): "Set User Permissions" */
const UPDATE_VISIBILITY = `  const visibility = RongIMLib.UserProfileVisibility.EVERYONE;
const res = await RongIMLib.updateMyUserProfileVisibility(visibility);
console.log('Permission setting result:', res);`;

/** User Profile Hosting (Web): "Get User Permissions" */
const GET_VISIBILITY = `  const res = await RongIMLib.getMyUserProfileVisibility();
console.log('Permission retrieval result:', res);`;

/** User Profile Hosting (Web): "Search User Profile by Application ID" */
const SEARCH_BY_UNIQUE_ID = `  const uniqueId = 'uniqueId';
const res = await RongIMLib.searchUserProfileByUniqueId(uniqueId);
console.log('Exact user profile search result by Application ID:', res);`;

/** 订阅在线状态 (Web): "订阅用户在线状态" (subscribe to users' online status) */
const SUBSCRIBE_USER_STATUS = `// 订阅订阅用户userId列表,也是单聊的 targetId (一次最多订阅 200 个)。
const userIds = ['user1', 'user2']
// 设置订阅时间,取值范围为[60,2592000](单位:秒)。
const expiry = 180000;
// 指定订阅类型为用户在线状态。
const type = RongIMLib.SubscribeType.ONLINE_STATUS

RongIMLib.subscribeUserStatus(userIds, type, expiry).then((res) => {
if (res.code === RongIMLib.ErrorCode.SUCCESS) {
console.log('订阅成功')
} else if (res.code === RongIMLib.ErrorCode.RC_BESUBSCRIBED_USERIDS_COUNT_EXCEED_LIMIT) {
console.log('用户被订阅达到上限', res.code, res.data)
} else {
console.log('订阅失败', res.code, res.msg)
}
})`;

/** Managing friends (Web): "Friend Event Listening" */
const FRIEND_LISTENERS = `// Add friend event listener
RongIMLib.addEventListener(RongIMLib.Events.FRIEND_ADDED, (data) => {
// data type: IFriendAdd
console.info('Friend added event', data);
});
// Delete friend event listener
RongIMLib.addEventListener(RongIMLib.Events.FRIEND_DELETE, (data) => {
// data type: IFriendDelete
console.info('Friend deleted event', data);
});
// Clear all friends listener
RongIMLib.addEventListener(RongIMLib.Events.FRIEND_CLEARED, (data) => {
// data type: number, timestamp when friends were cleared
console.info('All friends cleared event', data);
});
// Friend request listener
RongIMLib.addEventListener(RongIMLib.Events.FRIEND_APPLICATION_STATUS_CHANGED, (data) => {
// data type: IFriendApplicationStatusChange
console.info('Friend request status changed', data);
});
// Multi-device sync for friend info changes
RongIMLib.addEventListener(RongIMLib.Events.FRIEND_INFO_CHANGED_SYNC, (data) => {
// data type: IFriendInfoChangedSync
console.info('[Multi-device sync] Friend info changed', data);
});`;

// --- running them ------------------------------------------------------------------------------

interface Printed {
  label: unknown;
  values: unknown[];
}

/** A console that records what a snippet prints (log and info alike). */
function capture() {
  const printed: Printed[] = [];
  const print = (label: unknown, ...values: unknown[]) => void printed.push({ label, values });
  return { console: { log: print, info: print }, printed };
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;

/** Runs a snippet's text as it is, with RongIMLib, Events and console as RongCloud's setup gives them. */
async function run(snippet: string, RongIMLib: ProfileClient, console: ReturnType<typeof capture>['console']): Promise<void> {
  await new AsyncFunction('RongIMLib', 'Events', 'console', snippet)(RongIMLib, Events, console);
}

let server: TestServer;
let app: TestApp;
const clients: ProfileClient[] = [];

beforeAll(async () => {
  server = await startTestServer();
  app = await server.newApp();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
  await server.stop();
});

/** Setup: RongIMLib.init + connect's token, for one device of a user. RongIMLib resolves failures: errors 'resolve'. */
async function rongIMLib(userId: string, deviceId: string): Promise<ProfileClient> {
  const { token } = await app.user(userId);
  const client = createProfileClient({ url: server.url, token, deviceId, platform: 'WEB', webSocketImpl: WebSocket, errors: 'resolve' });
  clients.push(client);
  return client;
}

/** What a snippet printed under `label`, waiting until it printed `count` of them (listeners print later). */
async function printedAs(printed: Printed[], label: string, count = 1): Promise<unknown[][]> {
  await expect.poll(() => printed.filter((p) => p.label === label).length, { timeout: 8000 }).toBeGreaterThanOrEqual(count);
  return printed.filter((p) => p.label === label).map((p) => p.values);
}

describe("RongCloud's documented Web snippets", () => {
  it('run unchanged against the SDK and do what RongCloud documents', async () => {
    // setup: the app's backend defines the ext keys the update snippet writes, and creates the
    // users the other snippets name (user1, user2, and one whose uniqueId is 'uniqueId')
    await defineKey(app, 'key1');
    await defineKey(app, 'key2');
    await setProfile(app, 'user1', { name: 'User One', portraitUri: 'https://u.example/1.png' });
    await setProfile(app, 'user2', { name: 'User Two' });
    await setProfile(app, 'carol', { name: 'Carol', uniqueId: 'uniqueId' });

    // one user, two devices: listeners on the phone, the calls on the web
    const phone = await rongIMLib('me', 'phone');
    const web = await rongIMLib('me', 'web');
    const onPhone = capture();
    const onWeb = capture();

    // "Call addEventListener before establishing a connection."
    for (const snippet of PROFILE_LISTENERS) await run(snippet, phone, onPhone.console);
    await run(FRIEND_LISTENERS, phone, onPhone.console);
    expect(await phone.connect()).toEqual({ code: 0, data: { userId: 'me' } });
    expect(await web.connect()).toEqual({ code: 0, data: { userId: 'me' } });

    // the sync finished once per subscribe type (1 online status, 2 profile, 3 and 4 the friend types)
    expect((await printedAs(onPhone.printed, 'Subscription data synced', 4)).map(([type]) => type)).toEqual([1, 2, 3, 4]);

    // Update Current User Profile: every field as given, extraProfile returned as given
    await run(UPDATE_MY_USER_PROFILE, web, onWeb.console);
    const [[updated]] = await printedAs(onWeb.printed, 'Profile update result:');
    expect(updated).toMatchObject({
      code: 0,
      data: {
        userId: 'me',
        name: 'name',
        portraitUri: 'portraitUri',
        email: 'email',
        birthday: 'birthday',
        gender: 1,
        location: 'location',
        role: 1,
        level: 1,
        extraProfile: { key1: 'value1', key2: 'value2' },
      },
    });
    // ... and the other device hears of it
    const [[changed]] = await printedAs(onPhone.printed, 'User profile changed');
    expect(changed).toMatchObject({ userId: 'me', name: 'name', extraProfile: { key1: 'value1', key2: 'value2' } });

    // Get Current User Profile
    await run(GET_MY_USER_PROFILE, web, onWeb.console);
    expect((await printedAs(onWeb.printed, 'Current user profile:'))[0]![0]).toMatchObject({ code: 0, data: { userId: 'me', name: 'name', role: 1 } });

    // Batch Get Other Users' Profiles: others see name and portrait (the app default is Invisible)
    await run(GET_USER_PROFILES, web, onWeb.console);
    const [[batch]] = await printedAs(onWeb.printed, 'Batch profile retrieval result:');
    expect(batch).toMatchObject({
      code: 0,
      data: [
        { userId: 'user1', name: 'User One', portraitUri: 'https://u.example/1.png' },
        { userId: 'user2', name: 'User Two' },
      ],
    });

    // Set / Get User Permissions: EVERYONE is 2
    await run(UPDATE_VISIBILITY, web, onWeb.console);
    expect((await printedAs(onWeb.printed, 'Permission setting result:'))[0]).toEqual([{ code: 0, data: 2 }]);
    await run(GET_VISIBILITY, web, onWeb.console);
    expect((await printedAs(onWeb.printed, 'Permission retrieval result:'))[0]).toEqual([{ code: 0, data: 2 }]);

    // Search User Profile by Application ID: an exact match
    await run(SEARCH_BY_UNIQUE_ID, web, onWeb.console);
    expect((await printedAs(onWeb.printed, 'Exact user profile search result by Application ID:'))[0]![0]).toMatchObject({
      code: 0,
      data: { userId: 'carol', name: 'Carol' },
    });

    // Subscribe to online status: success (the snippet does not await; its .then prints)
    await run(SUBSCRIBE_USER_STATUS, web, onWeb.console);
    expect(await printedAs(onWeb.printed, '订阅成功')).toEqual([[]]);
    expect(onWeb.printed.map((p) => p.label)).not.toContain('订阅失败');
    // the phone learns of the subscription made on the web (multi-device sync) ...
    const relation = (await printedAs(onPhone.printed, 'Subscription relationship changed')).flatMap(([events]) => events as unknown[]);
    expect(relation).toEqual([
      expect.objectContaining({ userId: 'user1', subscribeType: 1, operationType: 0, expiry: 180000 }),
      expect.objectContaining({ userId: 'user2', subscribeType: 1, operationType: 0, expiry: 180000 }),
    ]);
    // ... and both devices hear user1 come online
    const user1 = await rongIMLib('user1', 'u1-web');
    const sinceOnline = onPhone.printed.length;
    await user1.connect();
    await expect
      .poll(
        () =>
          onPhone.printed
            .slice(sinceOnline)
            .filter((p) => p.label === 'Subscribed user status changed')
            .flatMap((p) => p.values[0] as { userId: string; subscribeType: number; details: { eventValue: number; platform: number }[] }[])
            .some((e) => e.userId === 'user1' && e.subscribeType === 1 && e.details.some((d) => d.eventValue === 1 && d.platform === 3)),
        { timeout: 8000 },
      )
      .toBe(true);

    // Friend events: user1 asks (me needs to accept, the app default), me accepts, then deletes
    expect(await user1.addFriend('me', user1.DirectionType.BOTH, 'hi')).toEqual({ code: 0, data: { processCode: 25461 } });
    const [[applied]] = await printedAs(onPhone.printed, 'Friend request status changed');
    expect(applied).toMatchObject({ userId: 'user1', applicationType: 2, applicationStatus: 0, directionType: 2, extra: 'hi', operationTime: server.clock.now().getTime() });
    server.clock.advance(1000);
    expect(await phone.acceptFriendApplication('user1')).toEqual({ code: 0 });
    const [[added]] = await printedAs(onPhone.printed, 'Friend added event');
    expect(added).toEqual({ userId: 'user1', name: 'User One', portraitUri: 'https://u.example/1.png', directionType: 2, operationTime: server.clock.now().getTime() });
    expect((await printedAs(onPhone.printed, 'Friend request status changed', 2))[1]![0]).toMatchObject({ userId: 'user1', applicationStatus: 1 });
    expect(await web.deleteFriends(['user1'], web.DirectionType.BOTH)).toEqual({ code: 0 });
    expect((await printedAs(onPhone.printed, 'Friend deleted event'))[0]).toEqual([{ userIds: ['user1'], directionType: 2, operationTime: expect.any(Number) }]);

    // nothing printed a failure
    for (const { values } of [...onPhone.printed, ...onWeb.printed]) {
      for (const value of values) if (value && typeof value === 'object' && 'code' in value) expect((value as { code: number }).code).toBe(0);
    }
  });
});
