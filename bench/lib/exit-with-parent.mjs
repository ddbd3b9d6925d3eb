// Preloaded (NODE_OPTIONS --import) into the scale scenario's servers: when the harness dies, even
// SIGKILLed, its IPC channel closes and the server exits instead of holding ~17 000 sockets and a
// database pool. Plain JavaScript, so that it loads before tsx.
if (process.send) process.on('disconnect', () => process.exit(1));
