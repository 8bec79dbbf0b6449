import { readFileSync } from 'node:fs';

/**
 * Time this process's main thread has spent runnable but waiting for a CPU (Linux schedstat:
 * the second field, in ns; 0 elsewhere). When other processes take the cores this grows, and
 * wall times say more about them than about the code measured.
 */
export function runQueueWaitMs(): number {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'latin1').split(' ')[1]) / 1e6;
  } catch {
    return 0;
  }
}
