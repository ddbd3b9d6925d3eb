import { buildApp } from './app.ts';

const app = await buildApp();
const started = await app.start();
if (started.devApp) {
  console.log(`Development app  appKey=${started.devApp.appKey}  appSecret=${started.devApp.appSecret}`);
  console.log(`Basic auth header: Basic ${Buffer.from(`${started.devApp.appKey}:${started.devApp.appSecret}`).toString('base64')}`);
  if (started.operatorToken) console.log(`Operator token: ${started.operatorToken}`);
}
// last, so that whoever waits for this line has everything above it
console.log(`Profile hosting server ready: GraphiQL at ${started.url}`);

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
