import type { GraphQLError } from 'graphql';
import type { UserRow } from '../db/database.ts';
import type { Context } from '../context.ts';
import { appError, badInput, notFound } from '../errors.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import { builder } from '../schema/builder.ts';
import { intInRange, userIdArg, userIdList } from '../schema/validate-args.ts';
import { findUserByUniqueId, type ProfilePatch } from './repository.ts';
import { applyProfilePatch, backendQueryIds, cleanProfilesChecked, profilePage, upsertProfiles, writeProfile, type UpsertOutcome } from './service.ts';
import { RC, UNIQUE_ID_PATTERN } from './rules.ts';
import type { ProfileInput, Writer } from './validation.ts';
import { isProfileView, visibleExt, type ProfileView } from './view.ts';
import { type Audience, type ProfileFieldName, extKeysMayBeHidden, isRestricted, someFieldHidden } from '../visibility/rule.ts';

export const Gender = builder.enumType('Gender', {
  values: {
    UNKNOWN: { description: 'RC 0' },
    MALE: { description: 'RC 1' },
    FEMALE: { description: 'RC 2' },
  } as const,
});

export const SortOrder = builder.enumType('SortOrder', { values: ['ASC', 'DESC'] as const });

const ProfileEntry = builder.objectRef<{ key: string; value: string }>('ProfileEntry').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value') }),
});

const ProfileEntryInput = builder.inputType('ProfileEntryInput', {
  fields: (t) => ({
    key: t.string({ required: true }),
    value: t.string({ description: 'null removes the key' }),
  }),
});

/** Applies a maybe-synchronous condition without creating a promise when it is synchronous. */
function when<T>(condition: boolean | Promise<boolean>, then: () => T): T | null | Promise<T | null> {
  return typeof condition === 'boolean' ? (condition ? then() : null) : condition.then((ok) => (ok ? then() : null));
}

/** Decides visibility for all rows a field returns at once, so their fields resolve synchronously. */
export async function prepared<T extends UserRow | null>(ctx: Context, rows: T[]): Promise<T[]> {
  await ctx.visibility?.prepare(rows.filter((r): r is NonNullable<T> => r !== null));
  return rows;
}

/** A profile is resolved from a stored row (visibility decided now) or from a pre-cut view (events). */
export type ProfileSource = UserRow | ProfileView;

/**
 * One field of a stored row as the current viewer may see it (SPEC §10, field by field):
 * synchronous when the request's decision for the owner is already known (parents prepare it).
 */
function restricted<F extends ProfileFieldName>(source: ProfileSource, field: F, ctx: Context): UserRow[F] | null | Promise<UserRow[F] | null> {
  if (isProfileView(source)) return source[field] as UserRow[F] | null;
  if (ctx.visibility === null) return null;
  return when(ctx.visibility.seesField(source, field), () => source[field]);
}

/** `restricted` of a stored row; the ext key registry is awaited only when no standard field already decides it. */
function restrictedFlag(row: UserRow, ctx: Context): boolean | Promise<boolean> {
  const decisions = ctx.visibility;
  if (decisions === null) return true;
  const judge = (audience: Audience): boolean | Promise<boolean> => {
    if (audience === 'self' || audience === 'backend') return false;
    if (someFieldHidden(row, audience, decisions.appDefault)) return true;
    if (!extKeysMayBeHidden(row, audience, decisions.appDefault)) return false;
    return ctx.loaders.extKeys().then((keys) => isRestricted(row, audience, decisions.appDefault, keys));
  };
  const audience = decisions.peek(row);
  return audience !== undefined ? judge(audience) : decisions.audience(row).then(judge);
}

export const UserProfile = builder.objectRef<ProfileSource>('UserProfile').implement({
  description:
    'A user\'s hosted profile as the current viewer may see it. userId, name and\nportraitUri are always visible; every other field resolves to null when the\nviewer may not see it, and `restricted` is then true.',
  fields: (t) => {
    const restrictedString = (field: 'uniqueId' | 'email' | 'birthday' | 'location') =>
      t.string({ nullable: true, resolve: (source, _args, ctx) => restricted(source, field, ctx) });
    const restrictedInt = (field: 'role' | 'level') => t.int({ nullable: true, resolve: (source, _args, ctx) => restricted(source, field, ctx) });
    return {
      userId: t.exposeID('userId'),
      name: t.exposeString('name', { nullable: true }),
      portraitUri: t.exposeString('portraitUri', { nullable: true }),
      uniqueId: restrictedString('uniqueId'),
      email: restrictedString('email'),
      birthday: restrictedString('birthday'),
      gender: t.field({ type: Gender, nullable: true, resolve: (source, _args, ctx) => restricted(source, 'gender', ctx) }),
      location: restrictedString('location'),
      role: restrictedInt('role'),
      level: restrictedInt('level'),
      userExtProfile: t.field({
        type: [ProfileEntry],
        nullable: true,
        resolve: async (source, _args, ctx) => {
          if (isProfileView(source)) return source.userExtProfile;
          if (ctx.visibility === null) return null;
          const [audience, extKeys] = await Promise.all([ctx.visibility.audience(source), ctx.loaders.extKeys()]);
          // Users see only keys with allowClientRead, the owner included, each by its own visibility; the backend sees all.
          return visibleExt(source, extKeys, audience, ctx.visibility.appDefault);
        },
      }),
      version: t.exposeInt('version'),
      updatedAt: t.field({ type: 'DateTime', resolve: (source) => new Date(source.updatedAt) }),
      restricted: t.boolean({
        resolve: (source, _args, ctx) => (isProfileView(source) ? source.restricted : restrictedFlag(source, ctx)),
      }),
    };
  },
});

const profileInputFields = (withUniqueId: boolean) => (t: any) => ({
  name: t.string(),
  portraitUri: t.string(),
  ...(withUniqueId ? { uniqueId: t.string() } : {}),
  email: t.string(),
  birthday: t.string(),
  gender: t.field({ type: Gender }),
  location: t.string(),
  role: t.int(),
  level: t.int(),
  userExtProfile: t.field({ type: [ProfileEntryInput] }),
});

const UserProfileInput = builder.inputType('UserProfileInput', {
  description:
    'Fields left out are unchanged; a field given as null is cleared.\nuserExtProfile entries are merged by key; an entry whose value is null removes that key.',
  fields: profileInputFields(false),
});

const AdminUserProfileInput = builder.inputType('AdminUserProfileInput', {
  description: "Like UserProfileInput, plus what only the app's backend may set.",
  fields: profileInputFields(true),
});

const UserProfileUpsert = builder.inputType('UserProfileUpsert', {
  fields: (t) => ({
    userId: t.id({ required: true }),
    profile: t.field({ type: AdminUserProfileInput, required: true }),
  }),
});

interface ItemErrorShape {
  code: string;
  message: string;
  rcCode: number | null;
  fields: string[] | null;
}

/**
 * An item's refusal as setUserProfile's error says it: the same code, message and rcCode;
 * `fields` names the profile fields at fault, then the ext keys as `userExtProfile.<key>`.
 * (A plain object: an Error returned by a resolver would be taken for the field failing.)
 */
function itemError(error: GraphQLError): ItemErrorShape {
  const fields = (error.extensions.fields as string[] | undefined) ?? [];
  const keys = ((error.extensions.keys as string[] | undefined) ?? []).map((k) => `userExtProfile.${k}`);
  return {
    code: String(error.extensions.code),
    message: error.message,
    rcCode: typeof error.extensions.rcCode === 'number' ? error.extensions.rcCode : null,
    fields: fields.length || keys.length ? [...fields, ...keys] : null,
  };
}

const ItemError = builder.objectRef<ItemErrorShape>('ItemError').implement({
  description: 'Why one item of a bulk call was refused; nothing of that item was written.',
  fields: (t) => ({
    code: t.exposeString('code'),
    message: t.exposeString('message'),
    rcCode: t.exposeInt('rcCode', { nullable: true }),
    fields: t.exposeStringList('fields', { nullable: true, description: "the fields or ext keys at fault, as in BAD_USER_INPUT's extensions.fields / keys" }),
  }),
});

const UserProfileUpsertResult = builder.objectRef<UpsertOutcome>('UserProfileUpsertResult').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    profile: t.field({ type: UserProfile, nullable: true, description: 'the profile as written; null when the item was refused', resolve: (o) => o.row ?? null }),
    error: t.field({ type: ItemError, nullable: true, resolve: (o) => (o.error ? itemError(o.error) : null) }),
  }),
});

const UserProfilePage = builder
  .objectRef<{ items: UserRow[]; totalCount: number }>('UserProfilePage')
  .implement({ fields: (t) => ({ items: t.field({ type: [UserProfile], resolve: (p) => p.items }), totalCount: t.exposeInt('totalCount') }) });

function requireUser(ctx: Context) {
  if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
  return ctx.caller;
}
function requireApp(ctx: Context) {
  if (ctx.caller.kind !== 'app') throw appError('FORBIDDEN', 'app credentials required');
  return ctx.caller;
}

/** Where a write comes from: the backend, or this user's socket or device (SPEC §6 "other connections"). */
function originOf(ctx: Context, writer: Writer): ChangeOrigin {
  if (writer === 'backend' || ctx.caller.kind !== 'user') return { by: 'backend' };
  return { by: 'user', userId: ctx.caller.userId, deviceId: ctx.deviceId, connectionId: ctx.connectionId };
}

/** Writes one profile through the service, then lets this request see the new row. */
export async function saveProfile(
  ctx: Context,
  target: { appKey: string; userId: string; writer: Writer; expectedVersion?: number; createIfMissing?: boolean },
  change: { input: ProfileInput } | { patch: ProfilePatch },
): Promise<UserRow> {
  const write = { ...target, origin: originOf(ctx, target.writer) };
  const row = 'input' in change ? await writeProfile(ctx, write, change.input, await ctx.loaders.extKeys()) : await applyProfilePatch(ctx, write, change.patch);
  ctx.loaders.profile.clear(target.userId).prime(target.userId, row);
  ctx.visibility?.reset();
  return row;
}

builder.queryFields((t) => ({
  myUserProfile: t.field({
    type: UserProfile,
    authScopes: { user: true },
    resolve: async (_root, _args, ctx) => {
      const caller = requireUser(ctx);
      const row = await ctx.loaders.profile.load(caller.userId);
      if (!row) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      return row;
    },
  }),
  userProfiles: t.field({
    type: [UserProfile],
    description: '1 to 20 ids; unknown ids are left out; input order is kept; duplicates collapse',
    authScopes: { user: true },
    args: { userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, { userIds }, ctx) => {
      const ids = userIdList(userIds, { max: 20, rcCode: RC.QUERY_COUNT_EXCEEDED });
      const rows = await ctx.loaders.profile.loadMany(ids);
      return prepared(ctx, rows.filter((r): r is UserRow => r !== null && !(r instanceof Error)));
    },
  }),
  searchUserProfileByUniqueId: t.field({
    type: UserProfile,
    nullable: true,
    description: 'exact, case-sensitive match; null when no user has that uniqueId',
    authScopes: { user: true },
    args: { uniqueId: t.arg.string({ required: true }) },
    resolve: async (_root, { uniqueId }, ctx) => {
      const caller = requireUser(ctx);
      if (!UNIQUE_ID_PATTERN.test(uniqueId)) throw badInput('uniqueId must be 1-32 letters or digits', { fields: ['uniqueId'] });
      const row = await findUserByUniqueId(ctx.db, caller.app.appKey, uniqueId);
      if (row) ctx.loaders.profile.prime(row.userId, row);
      return row ?? null;
    },
  }),
  adminUserProfiles: t.field({
    type: [UserProfile],
    description: '1 to 100 ids, every field visible',
    authScopes: { app: true },
    args: { userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, { userIds }, ctx) => {
      const ids = backendQueryIds(userIds);
      const rows = await ctx.loaders.profile.loadMany(ids);
      return rows.filter((r): r is UserRow => r !== null && !(r instanceof Error));
    },
  }),
  allUserProfiles: t.field({
    type: UserProfilePage,
    description: 'page from 1, size 1 to 100, ordered by creation time',
    authScopes: { app: true },
    args: {
      page: t.arg.int({ defaultValue: 1 }),
      size: t.arg.int({ defaultValue: 20 }),
      order: t.arg({ type: SortOrder, defaultValue: 'ASC' }),
    },
    resolve: async (_root, args, ctx) => {
      const caller = requireApp(ctx);
      const { rows, totalCount } = await profilePage(ctx, caller.app.appKey, { page: args.page ?? 1, size: args.size ?? 20, order: args.order === 'DESC' ? 'desc' : 'asc' });
      return { items: await prepared(ctx, rows), totalCount };
    },
  }),
}));

builder.mutationFields((t) => ({
  updateMyUserProfile: t.field({
    type: UserProfile,
    description: 'expectedVersion, when given, must equal the stored version or nothing is written (VERSION_CONFLICT)',
    authScopes: { user: true },
    args: {
      profile: t.arg({ type: UserProfileInput, required: true }),
      expectedVersion: t.arg.int(),
    },
    resolve: async (_root, { profile, expectedVersion }, ctx) => {
      const caller = requireUser(ctx);
      return saveProfile(ctx, { appKey: caller.app.appKey, userId: caller.userId, writer: 'user', expectedVersion: expectedVersion ?? undefined }, { input: profile as ProfileInput });
    },
  }),
  setUserProfile: t.field({
    type: UserProfile,
    authScopes: { app: true },
    args: {
      userId: t.arg.id({ required: true }),
      profile: t.arg({ type: AdminUserProfileInput, required: true }),
    },
    resolve: async (_root, { userId, profile }, ctx) => {
      const caller = requireApp(ctx);
      return saveProfile(ctx, { appKey: caller.app.appKey, userId: userIdArg(userId), writer: 'backend', createIfMissing: true }, { input: profile as ProfileInput });
    },
  }),
  setUserProfiles: t.field({
    type: [UserProfileUpsertResult],
    description:
      'App backend: 1 to 100 items, each all-or-nothing on its own and independent of\nthe others; creates missing users. Results come back in input order.',
    authScopes: { app: true },
    args: { items: t.arg({ type: [UserProfileUpsert], required: true }) },
    resolve: async (_root, { items }, ctx) => {
      const caller = requireApp(ctx);
      const upserts = items.map((item) => ({ userId: String(item.userId), input: item.profile as ProfileInput }));
      const outcomes = await upsertProfiles(ctx, caller.app.appKey, upserts, await ctx.loaders.extKeys());
      for (const outcome of outcomes) if (outcome.row) ctx.loaders.profile.clear(outcome.userId).prime(outcome.userId, outcome.row);
      ctx.visibility?.reset();
      return outcomes;
    },
  }),
  cleanUserProfiles: t.int({
    description: '1 to 20 ids; returns how many profiles were removed',
    authScopes: { app: true },
    args: { userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, { userIds }, ctx) => {
      const caller = requireApp(ctx);
      const removed = await cleanProfilesChecked(ctx, caller.app.appKey, userIds);
      ctx.loaders.profile.clearAll();
      ctx.visibility?.reset();
      return removed;
    },
  }),
}));
