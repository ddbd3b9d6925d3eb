import { appError, notFound } from '../errors.ts';
import { emptyPatch } from '../profiles/repository.ts';
import { saveProfile } from '../profiles/schema.ts';
import { RC } from '../profiles/rules.ts';
import { builder } from '../schema/builder.ts';

export const UserProfileVisibility = builder.enumType('UserProfileVisibility', {
  values: {
    NOT_SET: { description: "user level only: follow the app's default" },
    INVISIBLE: {},
    EVERYONE: {},
    FRIENDS_ONLY: {},
  } as const,
});

builder.queryField('myUserProfileVisibility', (t) =>
  t.field({
    type: UserProfileVisibility,
    authScopes: { user: true },
    resolve: async (_root, _args, ctx) => {
      if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
      const row = await ctx.loaders.profile.load(ctx.caller.userId);
      if (!row) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      return row.visibility;
    },
  }),
);

builder.mutationField('updateMyUserProfileVisibility', (t) =>
  t.field({
    type: UserProfileVisibility,
    description: 'INVISIBLE, EVERYONE, FRIENDS_ONLY or NOT_SET',
    authScopes: { user: true },
    args: { visibility: t.arg({ type: UserProfileVisibility, required: true }) },
    resolve: async (_root, { visibility }, ctx) => {
      if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
      // A visibility change is a profile write: it bumps version and reaches subscribers (SPEC §2, §6).
      const row = await saveProfile(ctx, { appKey: ctx.caller.app.appKey, userId: ctx.caller.userId, writer: 'user' }, { patch: { ...emptyPatch(), set: { visibility } } });
      return row.visibility;
    },
  }),
);
