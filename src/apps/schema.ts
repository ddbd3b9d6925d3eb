import { EXT_KEY_PATTERN, EXT_KEYS_PER_APP, textProblem } from '../profiles/rules.ts';
import { TOKEN_TTL_DEFAULT } from '../auth/tokens.ts';
import { appError, badInput, limitExceeded, notFound } from '../errors.ts';
import { builder } from '../schema/builder.ts';
import { userIdArg } from '../schema/validate-args.ts';
import { UserProfileVisibility } from '../visibility/schema.ts';
import { FriendAddPermission } from '../friends/permission.ts';
import { PresenceVisibility } from '../presence/schema.ts';
import type { AppRow, ExtProfileKeyRow } from '../db/database.ts';
import type { Context } from '../context.ts';
import { createApp, listExtProfileKeys, type updateAppSettings } from './repository.ts';
import { changeAppSettings, defineExtKey, issueUserToken, removeExtKey, revokeUserTokens, rotateAppSecret } from './service.ts';

const APP_NAME_MAX = 64;

const AppCredentials = builder.objectRef<{ appKey: string; appSecret: string }>('AppCredentials').implement({
  fields: (t) => ({
    appKey: t.exposeID('appKey'),
    appSecret: t.exposeString('appSecret', { description: 'shown once; stored only hashed and encrypted' }),
  }),
});

const AppSettings = builder.objectRef<AppRow>('AppSettings').implement({
  fields: (t) => ({
    appKey: t.exposeID('appKey'),
    name: t.exposeString('name'),
    defaultProfileVisibility: t.field({ type: UserProfileVisibility, resolve: (a) => a.defaultProfileVisibility }),
    defaultFriendAddPermission: t.field({ type: FriendAddPermission, resolve: (a) => a.defaultFriendAddPermission }),
    defaultPresenceVisibility: t.field({ type: PresenceVisibility, resolve: (a) => a.defaultPresenceVisibility }),
  }),
});

const ExtProfileKey = builder.objectRef<ExtProfileKeyRow>('ExtProfileKey').implement({
  fields: (t) => ({
    key: t.exposeString('key'),
    allowClientRead: t.exposeBoolean('allowClientRead'),
    allowClientWrite: t.exposeBoolean('allowClientWrite'),
  }),
});

const UserToken = builder.objectRef<{ token: string; expiresAt: Date }>('UserToken').implement({
  fields: (t) => ({ token: t.exposeString('token'), expiresAt: t.expose('expiresAt', { type: 'DateTime' }) }),
});

function appOfBackend(ctx: Context): AppRow {
  if (ctx.caller.kind !== 'app') throw appError('FORBIDDEN', 'app credentials required');
  return ctx.caller.app;
}

builder.queryFields((t) => ({
  appSettings: t.field({ type: AppSettings, authScopes: { app: true }, resolve: (_r, _a, ctx) => appOfBackend(ctx) }),
  extProfileKeys: t.field({
    type: [ExtProfileKey],
    authScopes: { app: true },
    resolve: (_r, _a, ctx) => listExtProfileKeys(ctx.db, appOfBackend(ctx).appKey),
  }),
}));

builder.mutationFields((t) => ({
  issueUserToken: t.field({
    type: UserToken,
    description: 'creates the user when missing; expiresInSeconds default 86400, at most 30 days',
    authScopes: { app: true },
    args: { userId: t.arg.id({ required: true }), expiresInSeconds: t.arg.int() },
    resolve: async (_r, args, ctx) => issueUserToken(ctx, appOfBackend(ctx).appKey, args.userId, args.expiresInSeconds ?? TOKEN_TTL_DEFAULT),
  }),
  revokeUserTokens: t.boolean({
    description: 'every token issued before now for this user stops working; its open connections are closed',
    authScopes: { app: true },
    args: { userId: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const app = appOfBackend(ctx);
      const userId = userIdArg(args.userId);
      return revokeUserTokens(ctx, app.appKey, userId);
    },
  }),
  updateAppSettings: t.field({
    type: AppSettings,
    authScopes: { app: true },
    args: {
      defaultProfileVisibility: t.arg({ type: UserProfileVisibility }),
      defaultFriendAddPermission: t.arg({ type: FriendAddPermission }),
      defaultPresenceVisibility: t.arg({ type: PresenceVisibility }),
    },
    resolve: async (_r, args, ctx) => {
      const app = appOfBackend(ctx);
      const fields = [
        args.defaultProfileVisibility === 'NOT_SET' ? 'defaultProfileVisibility' : null,
        args.defaultFriendAddPermission === 'NOT_SET' ? 'defaultFriendAddPermission' : null,
        args.defaultPresenceVisibility === 'NOT_SET' ? 'defaultPresenceVisibility' : null,
      ].filter((f): f is string => f !== null);
      if (fields.length) throw badInput(`NOT_SET is a user-level value; an app default must be a concrete setting (${fields.join(', ')})`, { fields });
      const patch: Parameters<typeof updateAppSettings>[2] = {};
      if (args.defaultProfileVisibility) patch.defaultProfileVisibility = args.defaultProfileVisibility as never;
      if (args.defaultFriendAddPermission) patch.defaultFriendAddPermission = args.defaultFriendAddPermission as never;
      if (args.defaultPresenceVisibility) patch.defaultPresenceVisibility = args.defaultPresenceVisibility as never;
      return changeAppSettings(ctx, app.appKey, patch);
    },
  }),
  defineExtProfileKey: t.field({
    type: ExtProfileKey,
    description: 'at most 20 keys per app; key is 1 to 32 letters and digits',
    authScopes: { app: true },
    args: {
      key: t.arg.string({ required: true }),
      allowClientRead: t.arg.boolean({ defaultValue: true }),
      allowClientWrite: t.arg.boolean({ defaultValue: true }),
    },
    resolve: async (_r, args, ctx) => {
      const app = appOfBackend(ctx);
      if (!EXT_KEY_PATTERN.test(args.key)) throw badInput('key must be 1-32 letters, digits or _', { fields: ['key'], keys: [args.key] });
      const result = await defineExtKey(
        ctx,
        app.appKey,
        { key: args.key, allowClientRead: args.allowClientRead ?? true, allowClientWrite: args.allowClientWrite ?? true },
        EXT_KEYS_PER_APP,
      );
      if (result === 'limit') throw limitExceeded(`an app defines at most ${EXT_KEYS_PER_APP} ext keys`, { keys: [args.key], rcCode: 24363 });
      return result;
    },
  }),
  removeExtProfileKey: t.boolean({
    authScopes: { app: true },
    args: { key: t.arg.string({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const { appKey } = appOfBackend(ctx);
      if (!EXT_KEY_PATTERN.test(args.key)) throw badInput('key must be 1-32 letters, digits or _', { fields: ['key'], keys: [args.key] });
      return removeExtKey(ctx, appKey, args.key);
    },
  }),
  createApp: t.field({
    type: AppCredentials,
    authScopes: { operator: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_r, { name }, ctx) => {
      const problem = name.length === 0 ? 'must not be empty' : textProblem(name, APP_NAME_MAX);
      if (problem) throw badInput(`name ${problem}`, { fields: ['name'] });
      return createApp(ctx.db, name, ctx.clock.now(), { check: ctx.secretCheck, box: ctx.secretBox });
    },
  }),
  rotateAppSecret: t.field({
    type: AppCredentials,
    description:
      'a new app secret, shown once; the old one stops working at once (Basic auth and signed server API requests). The app backend rotates its own (appKey omitted or its own); the operator any app (appKey required). User tokens stay valid',
    authScopes: { app: true, operator: true },
    args: { appKey: t.arg.id() },
    resolve: async (_r, args, ctx) => {
      let appKey: string;
      if (ctx.caller.kind === 'operator') {
        if (!args.appKey) throw badInput('appKey is required when the operator rotates a secret', { fields: ['appKey'] });
        appKey = String(args.appKey);
      } else {
        appKey = appOfBackend(ctx).appKey;
        if (args.appKey && args.appKey !== appKey) throw appError('FORBIDDEN', "an app backend rotates only its own secret", { fields: ['appKey'] });
      }
      const appSecret = await rotateAppSecret(ctx, appKey);
      if (appSecret === null) throw notFound(`no app "${appKey}"`, { fields: ['appKey'] });
      return { appKey, appSecret };
    },
  }),
}));
