import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
// one module per domain; each registers its own types and root fields
import '../apps/schema.ts';
import '../profiles/schema.ts';
import '../visibility/schema.ts';
import '../friends/schema.ts';
import '../subscriptions/schema.ts';
import '../presence/schema.ts';
import '../events/schema.ts';
import '../webhooks/schema.ts';

export const schema = builder.toSchema();
/** the printed form committed as schema.graphql */
export const sortedSchema = lexicographicSortSchema(schema);
