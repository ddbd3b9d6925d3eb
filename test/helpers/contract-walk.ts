import { readFileSync } from 'node:fs';
import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isAbstractType,
  isUnionType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';

/** Walks every root field of the schema as each caller, against the contract's own sections. */
export type CallerKind = 'user' | 'backend' | 'operator';
type RootType = 'Query' | 'Mutation' | 'Subscription';

/**
 * The contract's split of root fields by caller, read from its section comments
 * (`# --- user ---`, `# --- app backend ---`, `# --- server operator ---`). The Subscription
 * block has no sections: its fields are all events delivered to users.
 */
export function contractSections(roots: RootType[] = ['Query', 'Mutation']): Map<string, CallerKind> {
  const sections = new Map<string, CallerKind>();
  readSections(readFileSync(new URL('../../../shared/contract.graphql', import.meta.url), 'utf8'), roots, sections);
  // planned additions this server implements already (their root fields extend the same types)
  for (const planned of PLANNED) readSections(readFileSync(new URL(`../../../shared/contract-next/${planned}.graphql`, import.meta.url), 'utf8'), roots, sections);
  return sections;
}

/** The contract-next files whose issue is done (schema:check requires them too). */
export const PLANNED = ['07-events', '10-migration', '11-privacy'];

/**
 * A planned addition may give a root field's caller in its description instead of a section
 * heading ("App backend: …"): the description just before the field counts when no section does.
 */
function callerFromDescription(description: string): CallerKind | null {
  const lead = description.trim().toLowerCase();
  return lead.startsWith('app backend') ? 'backend' : lead.startsWith('server operator') ? 'operator' : lead.startsWith('user') ? 'user' : null;
}

/** A field named for "my" own things (myCustomStatus, updateMyFieldVisibility) is the user's. */
function callerFromName(field: string): CallerKind | null {
  return /^(?:[a-z]+My|my)[A-Z]/.test(field) ? 'user' : null;
}

function readSections(text: string, roots: RootType[], sections: Map<string, CallerKind>): void {
  let inRoot = false;
  let section: CallerKind | null = null;
  let description: string[] | null = null;
  let lastDescription = '';
  /** the caller of the field before: an undescribed field continues its run ("app backend: …" then its siblings) */
  let previous: CallerKind | null = null;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (inRoot && (description !== null || trimmed.startsWith('"'))) {
      if (description === null && /^"[^"].*"$/.test(trimmed)) {
        lastDescription = trimmed.slice(1, -1);
        continue;
      }
      const opening = description === null;
      description ??= [];
      const body = opening ? trimmed.replace(/^"""/, '') : trimmed;
      const closed = body.endsWith('"""');
      description.push(closed ? body.replace(/"""$/, '') : body);
      if (closed) {
        lastDescription = description.join('\n').trim();
        description = null;
      }
      continue;
    }
    const opened = /^(?:extend )?type (Query|Mutation|Subscription) \{/.exec(trimmed)?.[1] as RootType | undefined;
    if (opened) {
      inRoot = roots.includes(opened);
      section = opened === 'Subscription' ? 'user' : null;
      previous = null;
      continue;
    }
    if (!inRoot) continue;
    if (trimmed === '}') {
      inRoot = false;
      continue;
    }
    const heading = /^# --- (.+?) ---/.exec(trimmed)?.[1];
    if (heading) {
      section = heading.startsWith('user') ? 'user' : heading.startsWith('app backend') ? 'backend' : heading.startsWith('server operator') ? 'operator' : null;
      if (!section) throw new Error(`unknown contract section: ${heading}`);
      continue;
    }
    const field = /^([A-Za-z_][A-Za-z0-9_]*)\s*[(:]/.exec(trimmed)?.[1];
    if (field) {
      const caller: CallerKind | null = section ?? callerFromDescription(lastDescription) ?? sections.get(field) ?? callerFromName(field) ?? previous;
      if (!caller) throw new Error(`contract field ${field} outside a caller section`);
      sections.set(field, caller);
      previous = caller;
    }
    lastDescription = '';
  }
}

const SCALAR_PLACEHOLDERS: Record<string, unknown> = { ID: 'walkTarget', String: 'walk', Int: 1, Boolean: true, DateTime: '2026-01-01T00:00:00.000Z' };

/** A well-typed placeholder for an argument (the value only has to get past GraphQL's own checks). */
export function placeholder(type: GraphQLInputType): unknown {
  const inner = getNullableType(type);
  if (isListType(inner)) return [placeholder(inner.ofType)];
  if (isEnumType(inner)) return inner.getValues()[0]!.value;
  if (isInputObjectType(inner)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(inner.getFields())) if (isNonNullType(field.type)) value[field.name] = placeholder(field.type);
    return value;
  }
  if (isScalarType(inner) && inner.name in SCALAR_PLACEHOLDERS) return SCALAR_PLACEHOLDERS[inner.name];
  throw new Error(`no placeholder for ${String(type)}`);
}

/** One operation calling `field` with every argument given as a variable. */
export function operationFor(kind: 'query' | 'mutation' | 'subscription', field: GraphQLField<unknown, unknown>) {
  const variables: Record<string, unknown> = {};
  const declarations: string[] = [];
  const args: string[] = [];
  for (const arg of field.args) {
    declarations.push(`$${arg.name}: ${String(arg.type)}`);
    args.push(`${arg.name}: $${arg.name}`);
    variables[arg.name] = placeholder(arg.type);
  }
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  const query = `${kind} Walk${declarations.length ? `(${declarations.join(', ')})` : ''} { ${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection} }`;
  return { query, variables };
}

// ---------------------------------------------------------------------------------------------
// Walks generated from the schema (the security suite: tenancy, fuzzing)

export type RootKind = 'query' | 'mutation' | 'subscription';

/** Every root field of the schema with its operation kind: a new operation is walked without a test change. */
export function rootFields(schema: GraphQLSchema): { kind: RootKind; field: GraphQLField<unknown, unknown> }[] {
  const roots: [RootKind, GraphQLObjectType | null | undefined][] = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ];
  return roots.flatMap(([kind, type]) => (type ? Object.values(type.getFields()).map((field) => ({ kind, field })) : []));
}

/**
 * A selection of every field of `type` down to `depth` levels (unions and interfaces through one
 * inline fragment per member), so that whatever a resolver returns is in the answer. Fields that
 * need arguments are left out.
 */
export function fullSelection(type: GraphQLOutputType, depth = 4): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return '';
  if (depth <= 0) return '{ __typename }';
  if (isAbstractType(named)) {
    const members = isUnionType(named) ? named.getTypes() : [];
    return `{ __typename ${members.map((m) => `... on ${m.name} ${fullSelection(m, depth)}`).join(' ')} }`;
  }
  const fields = Object.values((named as GraphQLObjectType).getFields()).filter((f) => f.args.every((a) => !isNonNullType(a.type)));
  return `{ __typename ${fields.map((f) => `${f.name} ${fullSelection(f.type, depth - 1)}`).join(' ')} }`;
}

/** One operation calling `field` with the given argument values as variables and a full selection. */
export function operationWith(kind: RootKind, field: GraphQLField<unknown, unknown>, values: Record<string, unknown>, depth = 4) {
  const declarations = field.args.map((a) => `$${a.name}: ${String(a.type)}`);
  const args = field.args.map((a) => `${a.name}: $${a.name}`);
  const query = `${kind} Walk${declarations.length ? `(${declarations.join(', ')})` : ''} { ${field.name}${args.length ? `(${args.join(', ')})` : ''} ${fullSelection(field.type, depth)} }`;
  return { query, variables: values };
}
