import { builder } from '../schema/builder.ts';

export const FriendAddPermission = builder.enumType('FriendAddPermission', {
  values: {
    NOT_SET: { description: "user level only: follow the app's default" },
    FREE: {},
    NEED_VERIFY: {},
    NO_ONE_ALLOWED: {},
  } as const,
});
