/**
 * Preloaded (`--import`) into every server process the harness starts (ours and the floors), so
 * that the harness can ask it over IPC for its memory (after a full GC) and switch the V8 CPU
 * profiler on and off around the measured part only. Nothing here runs unless the process was
 * started with an IPC channel; src/ knows nothing about it.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

type ProbeRequest = { probe: 'memory'; id: number } | { probe: 'profile-start'; id: number } | { probe: 'profile-stop'; id: number; file: string };

if (process.send) {
  let session: Session | undefined;
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session!.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))));
  const reply = (id: number, body: object) => process.send!({ probeReply: id, ...body });

  process.on('message', (raw: unknown) => {
    const message = raw as ProbeRequest;
    if (!message || typeof message !== 'object' || !('probe' in message)) return;
    void (async () => {
      try {
        switch (message.probe) {
          case 'memory': {
            const gc = (globalThis as { gc?: () => void }).gc;
            if (gc) for (let i = 0; i < 3; i++) gc();
            reply(message.id, { memory: process.memoryUsage() });
            break;
          }
          case 'profile-start':
            session = new Session();
            session.connect();
            await post('Profiler.enable');
            await post('Profiler.setSamplingInterval', { interval: 500 });
            await post('Profiler.start');
            reply(message.id, { ok: true });
            break;
          case 'profile-stop': {
            const { profile } = await post<{ profile: object }>('Profiler.stop');
            writeFileSync(message.file, JSON.stringify(profile));
            session!.disconnect();
            session = undefined;
            reply(message.id, { ok: true });
            break;
          }
        }
      } catch (error) {
        reply(message.id, { error: String(error) });
      }
    })();
  });
  // the channel must not keep a process alive that would otherwise exit
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}
