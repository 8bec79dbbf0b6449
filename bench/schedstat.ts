import { readFileSync } from 'node:fs';

/**
 * This process's main thread, from Linux schedstat (all zero elsewhere): time on a CPU, and
 * time spent runnable but waiting for one. The rest of the wall time it was blocked, waiting
 * for I/O. When other processes take the cores, `waitingMs` grows and wall times say more
 * about them than about the code measured; a client that is blocked much of the time is
 * waiting on its server, and is not the bottleneck.
 */
export function mainThreadTimes(): { onCpuMs: number; waitingMs: number } {
  try {
    const [onCpu, waiting] = readFileSync('/proc/self/schedstat', 'latin1').split(' ');
    return { onCpuMs: Number(onCpu) / 1e6, waitingMs: Number(waiting) / 1e6 };
  } catch {
    return { onCpuMs: 0, waitingMs: 0 };
  }
}
