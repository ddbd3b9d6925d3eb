import { buildApp, type App, type StartedApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

// A mistake in the settings, or a database, Redis or port that is not there: one line on stderr
// and a non-zero exit, no stack (SPEC §14). LOG_LEVEL=debug adds the stack, for our own bugs.
let app: App;
let started: StartedApp;
try {
  app = await buildApp({ config: loadConfig() });
  started = await app.start();
} catch (error) {
  const line = error instanceof ConfigError ? error.message : `cannot start: ${error instanceof Error ? error.message : String(error)}`;
  console.error(line.split('\n')[0]);
  if (['debug', 'trace'].includes(process.env.LOG_LEVEL ?? '') && error instanceof Error) console.error(error.stack);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
if (started.devApp) {
  console.log(`Development app  appKey=${started.devApp.appKey}  appSecret=${started.devApp.appSecret}`);
  console.log(`Basic auth header: Basic ${Buffer.from(`${started.devApp.appKey}:${started.devApp.appSecret}`).toString('base64')}`);
  if (started.operatorToken) console.log(`Operator token: ${started.operatorToken}`);
}
if (started.metricsUrl) console.log(`Prometheus metrics at ${started.metricsUrl}`);
console.log(`RongCloud server API at ${started.url.replace(/\/graphql$/, '')} (POST /user/getToken.json, …; signed with App-Key, Nonce, Timestamp, Signature)`);
// last, so that whoever waits for this line has everything above it; the same with or without GraphiQL
console.log(`Profile hosting server ready: GraphQL endpoint at ${started.url}${app.services.config.graphiql ? ' (GraphiQL there in a browser)' : ''}`);

// SPEC §14: drain, then exit 0; past SHUTDOWN_GRACE_MS (something hangs) exit 1 anyway; a second
// signal during the drain exits at once
let shuttingDown = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    const { log, config } = app.services;
    if (shuttingDown) {
      log.warn({ signal }, 'second signal during the shutdown: exiting without finishing it');
      process.exit(1);
    }
    shuttingDown = true;
    setTimeout(() => {
      log.error({ shutdownGraceMs: config.shutdownGraceMs }, 'shutdown did not finish within SHUTDOWN_GRACE_MS: forced exit');
      process.exit(1);
    }, config.shutdownGraceMs).unref();
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
