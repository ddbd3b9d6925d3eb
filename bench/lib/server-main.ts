/**
 * Entry of the server under test: exactly `src/main.ts` (what `npm start` runs), under a command
 * line of its own so that the machine's other users, who stop their test servers by the name
 * src/main.ts, do not stop the benchmark's.
 */
await import('../../src/main.ts');
