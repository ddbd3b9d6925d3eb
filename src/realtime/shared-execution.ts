import {
  Kind,
  createSourceEventStream,
  execute,
  getDirectiveValues,
  getOperationAST,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLScalarType,
  type SelectionSetNode,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { StatusMessage } from './messages.ts';
import { preSerialized, segmentsOf } from './pre-serialized.ts';
import type { RealtimeConnection } from './connection.ts';
import type { Metrics } from '../observability/metrics.ts';

/**
 * The fields of a pushed status change that differ from one receiver of the same change to the
 * next: everything else (subject, type, details, the profile cut for the receiver's audience) is
 * the same for all of them, which is what `StatusMessage.shared` names.
 */
const PER_RECEIVER_FIELDS = { subscribeTime: 'DateTime', expiry: 'Int' } as const;
type PerReceiverField = keyof typeof PER_RECEIVER_FIELDS;

const SHARED_ROOT_FIELD = 'subscribedUserStatusChange';
const SHARED_TYPE = 'UserStatusChange';
/** recent changes kept per operation shape; one change is delivered to all its receivers at once */
const RESULTS_PER_PLAN = 32;
const PLANS_PER_DOCUMENT = 64;

/**
 * How one subscription operation (document, operation name, variables) renders a status change:
 * the response key of its root field, and the response keys under it that hold per-receiver fields.
 */
interface Plan {
  rootKey: string;
  perReceiver: { key: string; field: PerReceiverField; type: GraphQLScalarType }[];
  results: Map<string, ExecutionResult | Promise<ExecutionResult>>;
}

/**
 * A change to one user reaches thousands of subscribers, and executing the same selection over the
 * same profile view for each of them was most of the fan-out's cost (execution plus the garbage it
 * leaves). Status changes published together carry a `shared` key per audience: the operation is
 * executed once per (operation shape, shared key) and each receiver gets a copy of that result with
 * its own subscribeTime and expiry put in. Anything else, and any result with errors, is executed
 * per event as before. Sound only because those events' resolvers read nothing but the event (the
 * profile inside is already cut for its audience); `test/realtime-shared-execution.test.ts` checks
 * the outcome equals per-receiver execution.
 */
export function useSharedEventExecution(): Plugin {
  const plans = new WeakMap<object, Map<string, Plan | null>>();

  function planFor(args: ExecutionArgs): Plan | null {
    let byShape = plans.get(args.document);
    if (!byShape) plans.set(args.document, (byShape = new Map()));
    const shape = `${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
    let plan = byShape.get(shape);
    if (plan === undefined) {
      plan = makePlan(args);
      if (byShape.size >= PLANS_PER_DOCUMENT) byShape.delete(byShape.keys().next().value!);
      byShape.set(shape, plan);
    }
    return plan;
  }

  return {
    onSubscribe({ args, setSubscribeFn }) {
      const plan = planFor(args as ExecutionArgs);
      if (!plan) return;
      setSubscribeFn(async (subscribeArgs) => {
        const source = await createSourceEventStream(subscribeArgs as ExecutionArgs);
        if (!isAsyncIterable(source)) return source as ExecutionResult;
        sendDirectly(plan, subscribeArgs as ExecutionArgs, source);
        return mapEvents(source as AsyncIterator<unknown> & AsyncIterable<unknown>, (event) => render(plan, subscribeArgs as ExecutionArgs, event));
      });
    },
  };
}

/** A source stream whose live events may be sent without passing through its reader. */
export interface DirectlyDelivered {
  deliverDirectly(send: (message: StatusMessage) => boolean): void;
}

/**
 * The shortest path for a shared change: while the operation's reader is idle, the receiver's
 * message is rendered from the shared result's JSON and written to the socket at once, without
 * the per-event promise chain of graphql-ws, envelop and the stream (on a 5000-receiver change
 * that chain, and the garbage it leaves, cost more than the socket writes). Whatever this cannot
 * render synchronously without errors, or a socket that is behind, takes the usual way; what it
 * sends is exactly what that way would have sent (same JSON, same order, same delivery count).
 */
function sendDirectly(plan: Plan, args: ExecutionArgs, source: object): void {
  const ctx = args.contextValue as { connection?: RealtimeConnection; operationId?: string; metrics?: Metrics } | undefined;
  if (!ctx?.connection || !ctx.operationId || !ctx.metrics || !('deliverDirectly' in source)) return;
  const { connection } = ctx;
  const head = `{"id":${JSON.stringify(ctx.operationId)},"type":"next","payload":{"data":{${JSON.stringify(plan.rootKey)}:`;
  const delivered = ctx.metrics.deliveries(SHARED_ROOT_FIELD);
  (source as DirectlyDelivered).deliverDirectly((message) => {
    if (typeof message.shared !== 'string') return false;
    const shared = sharedResult(plan, args, message as StatusMessage & { shared: string });
    if (shared instanceof Promise || shared.errors?.length) return false;
    const text = textFor(plan, message, shared);
    if (text === undefined || !connection.sendPrepared(`${head}${text}}}}`)) return false;
    delivered.inc();
    return true;
  });
}

function render(plan: Plan, args: ExecutionArgs, event: unknown): ExecutionResult | Promise<ExecutionResult> {
  const message = event as Partial<StatusMessage>;
  if (message.kind !== 'status' || typeof message.shared !== 'string') return execute({ ...args, rootValue: event });
  const shared = sharedResult(plan, args, message as StatusMessage & { shared: string });
  return shared instanceof Promise ? shared.then((result) => personalise(plan, args, message, result)) : personalise(plan, args, message, shared);
}

/** The change's result for this operation shape and audience, executed once. */
function sharedResult(plan: Plan, args: ExecutionArgs, message: StatusMessage & { shared: string }): ExecutionResult | Promise<ExecutionResult> {
  let shared = plan.results.get(message.shared);
  if (shared === undefined) {
    const key = message.shared;
    const executed = execute({ ...args, rootValue: message });
    // resolvers behind auth scopes make execution asynchronous: once done, the result is kept as
    // a value, so that the change's later receivers render synchronously (and may go directly)
    shared =
      executed instanceof Promise
        ? executed.then((result) => {
            if (plan.results.get(key) === shared) plan.results.set(key, result);
            return result;
          })
        : executed;
    if (plan.results.size >= RESULTS_PER_PLAN) plan.results.delete(plan.results.keys().next().value!);
    plan.results.set(key, shared);
  }
  return shared;
}

/** Per shared result: its JSON in segments around the per-receiver fields (see segmentsOf). */
const serialised = new WeakMap<ExecutionResult, (values: readonly unknown[]) => string>();

/**
 * The shared result with this receiver's own per-receiver fields. Over graphql-ws (the only
 * transport of these subscriptions) the root field's JSON is made once per shared result and
 * only the receiver's own values are serialised per receiver (src/realtime/pre-serialized.ts).
 */
function personalise(plan: Plan, args: ExecutionArgs, message: Partial<StatusMessage>, result: ExecutionResult): ExecutionResult | Promise<ExecutionResult> {
  const root = result.data?.[plan.rootKey] as Record<string, unknown> | null | undefined;
  // an error anywhere: this receiver's own execution reports it the usual way
  if (result.errors?.length || !root) return execute({ ...args, rootValue: message });
  if ((args.contextValue as { connection?: unknown } | undefined)?.connection) {
    return { data: { [plan.rootKey]: preSerialized(textFor(plan, message, result)!) } };
  }
  const values = perReceiverValues(plan, message);
  const copy = { ...root };
  plan.perReceiver.forEach(({ key }, i) => (copy[key] = values[i]));
  return { data: { [plan.rootKey]: copy } };
}

function perReceiverValues(plan: Plan, message: Partial<StatusMessage>): unknown[] {
  return plan.perReceiver.map(({ field, type }) => {
    const value = message[field] ?? null;
    return value === null ? null : type.serialize(field === 'subscribeTime' ? new Date(value) : value);
  });
}

/** The root field's JSON for this receiver, from the shared result's segments; undefined without a root. */
function textFor(plan: Plan, message: Partial<StatusMessage>, result: ExecutionResult): string | undefined {
  const root = result.data?.[plan.rootKey] as Record<string, unknown> | null | undefined;
  if (!root) return undefined;
  let fill = serialised.get(result);
  if (!fill) serialised.set(result, (fill = segmentsOf(root, plan.perReceiver.map((p) => p.key))));
  return fill(perReceiverValues(plan, message));
}

/** Null unless the operation is a subscription to status changes (the only events that share). */
function makePlan(args: ExecutionArgs): Plan | null {
  const operation = getOperationAST(args.document, args.operationName);
  const subscriptionType = args.schema.getSubscriptionType();
  const statusType = args.schema.getType(SHARED_TYPE) as GraphQLObjectType | undefined;
  if (operation?.operation !== 'subscription' || !subscriptionType || !statusType) return null;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of args.document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  const collect = (type: GraphQLObjectType, selectionSets: readonly SelectionSetNode[]) => {
    const fields = new Map<string, FieldNode[]>();
    for (const set of selectionSets) collectFields(args, fragments, type, set, fields, new Set());
    return fields;
  };
  const root = [...collect(subscriptionType, [operation.selectionSet])];
  if (root.length !== 1) return null;
  const [rootKey, rootNodes] = root[0]!;
  if (rootNodes[0]!.name.value !== SHARED_ROOT_FIELD) return null;
  const under = collect(
    statusType,
    rootNodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : [])),
  );
  const perReceiver: Plan['perReceiver'] = [];
  for (const [key, nodes] of under) {
    const name = nodes[0]!.name.value;
    if (name in PER_RECEIVER_FIELDS) {
      const field = name as PerReceiverField;
      perReceiver.push({ key, field, type: args.schema.getType(PER_RECEIVER_FIELDS[field]) as GraphQLScalarType });
    }
  }
  return { rootKey, perReceiver, results: new Map() };
}

/** graphql-js's CollectFields (spec §6.3.2) for one runtime type: response key → field nodes. */
function collectFields(
  args: ExecutionArgs,
  fragments: Record<string, FragmentDefinitionNode>,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  fields: Map<string, FieldNode[]>,
  visited: Set<string>,
): void {
  const variables = (args.variableValues ?? {}) as Record<string, unknown>;
  const included = (node: Parameters<typeof getDirectiveValues>[1]) =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.if !== true && getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;
  const matches = (condition: string | undefined) => {
    if (!condition || condition === type.name) return true;
    const conditional = args.schema.getType(condition);
    return !!conditional && isAbstractType(conditional) && args.schema.isSubType(conditional, type);
  };
  for (const selection of selectionSet.selections) {
    if (!included(selection)) continue;
    if (selection.kind === Kind.FIELD) {
      const key = selection.alias?.value ?? selection.name.value;
      const list = fields.get(key);
      if (list) list.push(selection);
      else fields.set(key, [selection]);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (matches(selection.typeCondition?.name.value)) collectFields(args, fragments, type, selection.selectionSet, fields, visited);
    } else {
      const name = selection.name.value;
      const fragment = fragments[name];
      if (visited.has(name) || !fragment || !matches(fragment.typeCondition.name.value)) continue;
      visited.add(name);
      collectFields(args, fragments, type, fragment.selectionSet, fields, visited);
    }
  }
}

/** Maps a source stream event by event; return()/throw() reach the source (it ends the live stream). */
function mapEvents<T, R>(source: AsyncIterator<T> & AsyncIterable<T>, map: (value: T) => R | Promise<R>): AsyncIterableIterator<R> {
  const iterator = source[Symbol.asyncIterator]();
  // no async functions: a pushed event costs one promise hop here, not three
  const step = (result: IteratorResult<T>): IteratorResult<R> | Promise<IteratorResult<R>> => {
    if (result.done) return { value: undefined, done: true };
    const value = map(result.value);
    return value instanceof Promise ? value.then((v) => ({ value: v, done: false })) : { value, done: false };
  };
  return {
    next: () => iterator.next().then(step),
    return: async () => {
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    throw: async (error?: unknown) => {
      if (iterator.throw) return step(await iterator.throw(error));
      await iterator.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
