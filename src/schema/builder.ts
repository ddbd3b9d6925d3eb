import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Context } from '../context.ts';
import { appError } from '../errors.ts';

/**
 * The one Pothos builder. Root fields declare who may call them with `authScopes`:
 * `user` (Bearer user token), `app` (Basic appKey:appSecret), `operator` (Bearer OPERATOR_TOKEN).
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { user: boolean; app: boolean; operator: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // check a Subscription field's scopes before its subscribe function runs (not only per event)
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      user: ctx.caller.kind === 'user',
      app: ctx.caller.kind === 'app',
      operator: ctx.caller.kind === 'operator',
    }),
    // No or refused credentials: UNAUTHENTICATED. Valid credentials of the wrong kind: FORBIDDEN.
    unauthorizedError: (_parent, ctx) =>
      ctx.caller.kind === 'anonymous'
        ? appError('UNAUTHENTICATED', ctx.caller.problem ? `Not authenticated: ${ctx.caller.problem}` : 'Not authenticated: send an Authorization header')
        : appError('FORBIDDEN', `This operation is not available to the ${callerName(ctx.caller.kind)}`),
  },
});

function callerName(kind: 'user' | 'app' | 'operator'): string {
  return kind === 'user' ? 'user token' : kind === 'app' ? 'app backend' : 'server operator';
}

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
