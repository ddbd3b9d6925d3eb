import type { Services } from '../context.ts';
import type { AppRow, FriendAddPermission, GenderValue, UserRow } from '../db/database.ts';
import { expireUserTokens, issueUserToken } from '../apps/service.ts';
import { TOKEN_TTL_MAX } from '../auth/tokens.ts';
import { backendProfiles, cleanProfilesChecked, profilePage, writeProfile } from '../profiles/service.ts';
import type { ProfileInput } from '../profiles/validation.ts';
import { readableExt } from '../profiles/view.ts';
import { isOnline } from '../presence/service.ts';
import {
  FRIEND_EXTRA_MAX,
  checkFriends,
  endAllFriendships,
  endFriendshipsChecked,
  friendAddPermissionsOf,
  friendCount,
  friendsPage,
  friendText,
  makeFriends,
  requestFriendship,
  setFriendAddPermissions,
  setRemark,
} from '../friends/service.ts';
import { userIdArg } from '../schema/validate-args.ts';
import type { Params } from './params.ts';
import { RestError } from './responses.ts';
import { EXT_PREFIX, profileFields, profileInput } from './profiles.ts';

/**
 * RongCloud's server API endpoints, each a thin adapter: it decodes RongCloud's parameters, calls
 * the domain service the GraphQL API calls (whose rules, limits and events apply unchanged) and
 * shapes the answer as RongCloud does. Nothing here decides what is allowed.
 */
export interface Call {
  services: Services;
  app: AppRow;
  params: Params;
}

export type Endpoint = (call: Call) => Promise<Record<string, unknown>>;

async function extFields(s: Services, row: UserRow): Promise<string> {
  const entries = readableExt(row, await s.appConfig.extKeys(row.appKey), 'backend');
  return JSON.stringify(Object.fromEntries(entries.map((e) => [EXT_PREFIX + e.key, e.value])));
}

// ---------------------------------------------------------------------------------------------
// Friend permissions as RongCloud numbers them

const PERMISSIONS: Record<number, Exclude<FriendAddPermission, 'NOT_SET'>> = { 1: 'FREE', 2: 'NEED_VERIFY', 3: 'NO_ONE_ALLOWED' };
const PERMISSION_NUMBERS = { FREE: 1, NEED_VERIFY: 2, NO_ONE_ALLOWED: 3 } as const;

// ---------------------------------------------------------------------------------------------

/** Friend batch calls count once per item against their endpoint's rate, as RongCloud counts them: the list parameter of each. */
export const COUNTED_PER_ITEM: Record<string, string> = {
  '/friend/delete.json': 'targetIds',
  '/friend/check.json': 'targetIds',
  '/friend/permission/set.json': 'userIds',
  '/friend/permission/get.json': 'userIds',
};

export const ENDPOINTS: Record<string, Endpoint> = {
  /**
   * RongCloud tokens do not expire unless the console says so; ours live at most 30 days, so this
   * issues the longest. `name` and `portraitUri` are RongCloud's push-only fields: accepted, not
   * stored (hosted profiles are set with /user/profile/set.json, as RongCloud says).
   */
  async '/user/getToken.json'({ services, app, params }) {
    const userId = params.text('userId', { required: true })!;
    const { token } = await issueUserToken(services, app.appKey, userId, TOKEN_TTL_MAX);
    return { userId, token };
  },

  /** Tokens issued before `time` (ms) stop working; the sockets opened with them close (see expireUserTokens). */
  async '/user/token/expire.json'({ services, app, params }) {
    const userIds = params.list('userId', { required: true });
    const time = params.integer('time', { required: true })!;
    await expireUserTokens(services, app.appKey, userIds, new Date(time));
    return {};
  },

  /** A per-key merge, as the backend's setUserProfile: omitted keys stay, null clears, ext entries merge. */
  async '/user/profile/set.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    const input = profileInput(params.object('userProfile'), params.object('userExtProfile'));
    await writeProfile(services, { appKey: app.appKey, userId, writer: 'backend', origin: { by: 'backend' }, createIfMissing: true }, input, await services.appConfig.extKeys(app.appKey));
    return {};
  },

  async '/user/profile/batch/query.json'({ services, app, params }) {
    const rows = await backendProfiles(services, app.appKey, params.list('userId', { required: true }), 'userId');
    const userList = await Promise.all(rows.map(async (row) => ({ userId: row.userId, version: row.version, userProfile: profileFields(row), userExtProfile: await extFields(services, row) })));
    return { userList };
  },

  /** `count` is accepted for `size` (RongCloud's own example sends it); order 0 ascending, 1 descending. */
  async '/user/profile/query.json'({ services, app, params }) {
    const order = params.integer('order') ?? 0;
    if (order !== 0 && order !== 1) throw new RestError(1002, 'order must be 0 (ascending) or 1 (descending)');
    const { rows, totalCount } = await profilePage(services, app.appKey, {
      page: params.integer('page') ?? 1,
      size: params.integer('size') ?? params.integer('count') ?? 20,
      order: order === 1 ? 'desc' : 'asc',
    });
    const userList = await Promise.all(rows.map(async (row) => ({ userId: row.userId, version: row.version, userProfile: profileFields(row), userExtProfile: await extFields(services, row) })));
    return { total: totalCount, userList };
  },

  async '/user/profile/clean.json'({ services, app, params }) {
    await cleanProfilesChecked(services, app.appKey, params.list('userId', { required: true }), 'userId');
    return {};
  },

  async '/user/checkOnline.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    return { status: (await isOnline(services, app, userId)) ? '1' : '0' };
  },

  /** optType 1 (default): as the requester's addFriend, following the target's permission; 2: at once, as adminAddFriend. */
  async '/friend/add.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    const targetId = userIdArg(params.text('targetId', { required: true })!, 'targetId');
    const optType = params.integer('optType') ?? 1;
    if (optType === 2) await makeFriends(services, app.appKey, userId, targetId);
    else if (optType === 1) await requestFriendship(services, app, userId, targetId, friendText(params.text('extra'), FRIEND_EXTRA_MAX, 'extra'));
    else throw new RestError(1002, 'optType must be 1 (follow the target\'s permission) or 2 (add directly)');
    return {};
  },

  async '/friend/delete.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    await endFriendshipsChecked(services, app.appKey, userId, params.list('targetIds', { required: true }), 'targetIds');
    return {};
  },

  async '/friend/clean.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    await endAllFriendships(services, app.appKey, userId);
    return {};
  },

  /** result 4: mutual friends, 1: not friends (friendship is always mutual here) */
  async '/friend/check.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    const results = await checkFriends(services, app.appKey, userId, params.list('targetIds', { required: true }), 'targetIds');
    return { results: results.map((r) => ({ userId: r.userId, result: r.isFriend ? 4 : 1 })) };
  },

  /** Oldest friendship first (order 1, newest first, is not offered: 1002); `pageToken` is empty on the last page. */
  async '/friend/get.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    if ((params.integer('order') ?? 0) !== 0) throw new RestError(1002, 'order must be 0 (by time added, oldest first): newest first is not supported here');
    const page = await friendsPage(services, app.appKey, userId, { pageToken: params.text('pageToken'), count: params.integer('size') ?? 50, countArg: 'size' });
    const [profiles, totalCount] = await Promise.all([
      page.items.length ? backendProfiles(services, app.appKey, page.items.map((f) => f.friendId), 'userId') : Promise.resolve([]),
      friendCount(services, app.appKey, userId),
    ]);
    const names = new Map(profiles.map((p) => [p.userId, p.name]));
    const friendList = page.items.map((f) => ({ userId: f.friendId, name: names.get(f.friendId) ?? '', remarkName: f.remark ?? '', friendExtProfile: '{}', time: f.addedAt.getTime() }));
    return { pageToken: page.nextPageToken ?? '', totalCount, friendList };
  },

  /** remarkName (empty clears it); friendExtProfile is not kept here: a non-empty one is refused. */
  async '/friend/profile/set.json'({ services, app, params }) {
    const userId = userIdArg(params.text('userId', { required: true })!);
    const targetId = userIdArg(params.text('targetId', { required: true })!, 'targetId');
    const ext = params.object('friendExtProfile');
    if (ext && Object.keys(ext).length > 0) throw new RestError(1002, 'friendExtProfile is not supported by this server: only remarkName is kept');
    const remark = params.text('remarkName');
    await setRemark(services, app.appKey, userId, targetId, remark === '' ? null : remark, 'remarkName');
    return {};
  },

  async '/friend/permission/set.json'({ services, app, params }) {
    const type = params.integer('permissionType', { required: true })!;
    const permission = PERMISSIONS[type];
    if (!permission) throw new RestError(1002, 'permissionType must be 1 (anyone adds directly), 2 (needs approval) or 3 (nobody)');
    await setFriendAddPermissions(services, app.appKey, params.list('userIds', { required: true }), permission, 'userIds');
    return {};
  },

  async '/friend/permission/get.json'({ services, app, params }) {
    const settings = await friendAddPermissionsOf(services, app, params.list('userIds', { required: true }), 'userIds');
    return { permissionSettings: settings.map((s) => ({ userId: s.userId, type: PERMISSION_NUMBERS[s.permission] })) };
  },
};
