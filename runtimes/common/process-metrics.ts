/** Process metrics in Prometheus' standard names; node:process answers on Node, Bun and Deno. */
import process from 'node:process';
import type { ProcessMetric } from '../../src/metrics.ts';

const startedAt = Date.now() / 1000;

export const processMetrics: ProcessMetric[] = [
  {
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    type: 'gauge',
    read: () => process.memoryUsage.rss(),
  },
  {
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    type: 'counter',
    read: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  },
  {
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    type: 'gauge',
    read: () => startedAt,
  },
];
