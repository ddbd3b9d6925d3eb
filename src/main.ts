import { buildApp } from './app.ts';

const app = await buildApp();
const started = await app.start();
if (started.devApp) {
  console.log(`Development app  appKey=${started.devApp.appKey}  appSecret=${started.devApp.appSecret}`);
  console.log(`Basic auth header: Basic ${Buffer.from(`${started.devApp.appKey}:${started.devApp.appSecret}`).toString('base64')}`);
  if (started.operatorToken) console.log(`Operator token: ${started.operatorToken}`);
}
// last, so that whoever waits for this line has everything above it; the same with or without GraphiQL
console.log(`Profile hosting server ready: GraphQL endpoint at ${started.url}${app.services.config.graphiql ? ' (GraphiQL there in a browser)' : ''}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.stop().then(() => process.exit(0)));
