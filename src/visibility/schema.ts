import { appError, notFound } from '../errors.ts';
import { emptyPatch } from '../profiles/repository.ts';
import { saveProfile } from '../profiles/schema.ts';
import { RC } from '../profiles/rules.ts';
import { builder } from '../schema/builder.ts';
import type { DecidedVisibility } from '../db/database.ts';
import type { ProfileFieldName } from './rule.ts';
import { PROFILE_FIELD_ENUM, PROFILE_FIELD_NAMES, type ProfileFieldEnum, fieldVisibilityChange, overridesList } from './service.ts';

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

export const ProfileField = builder.enumType('ProfileField', {
  description: 'Profile fields whose visibility a user can set one by one (userId, name and portraitUri are always visible).',
  values: Object.keys(PROFILE_FIELD_NAMES) as ProfileFieldEnum[],
});

type FieldVisibilityShape = { field: ProfileFieldName | null; extKey: string | null; visibility: DecidedVisibility };

const FieldVisibility = builder.objectRef<FieldVisibilityShape>('FieldVisibility').implement({
  description: 'One per-field override: exactly one of field and extKey is set.',
  fields: (t) => ({
    field: t.field({ type: ProfileField, nullable: true, resolve: (o) => (o.field ? PROFILE_FIELD_ENUM[o.field] : null) }),
    extKey: t.exposeString('extKey', { nullable: true }),
    visibility: t.field({ type: UserProfileVisibility, resolve: (o) => o.visibility }),
  }),
});

const FieldVisibilityInput = builder.inputType('FieldVisibilityInput', {
  fields: (t) => ({
    field: t.field({ type: ProfileField }),
    extKey: t.string(),
    visibility: t.field({ type: UserProfileVisibility, required: true, description: "NOT_SET removes the override: the field follows the profile's visibility again" }),
  }),
});

builder.queryField('myFieldVisibility', (t) =>
  t.field({
    type: [FieldVisibility],
    authScopes: { user: true },
    resolve: async (_root, _args, ctx) => {
      if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
      const row = await ctx.loaders.profile.load(ctx.caller.userId);
      if (!row) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      return overridesList(row, await ctx.loaders.extKeys());
    },
  }),
);

builder.mutationField('updateMyFieldVisibility', (t) =>
  t.field({
    type: [FieldVisibility],
    description: 'per-field overrides of my profile visibility; returns all my overrides after the change',
    authScopes: { user: true },
    args: { settings: t.arg({ type: [FieldVisibilityInput], required: true }) },
    resolve: async (_root, { settings }, ctx) => {
      if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
      const extKeys = await ctx.loaders.extKeys();
      const entries = settings.map((s) => ({ field: s.field ? PROFILE_FIELD_NAMES[s.field] : null, extKey: s.extKey ?? null, visibility: s.visibility }));
      const change = fieldVisibilityChange(entries, extKeys);
      let row;
      if (entries.length === 0) {
        // nothing asked: the overrides as they are, nothing written (no version bump, no event)
        row = await ctx.loaders.profile.load(ctx.caller.userId);
        if (!row) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      } else {
        // an override change is a profile write: it bumps version and reaches subscribers (SPEC §2, §6, §10)
        row = await saveProfile(ctx, { appKey: ctx.caller.app.appKey, userId: ctx.caller.userId, writer: 'user' }, { patch: { ...emptyPatch(), fieldVisibility: change } });
      }
      return overridesList(row, extKeys);
    },
  }),
);
