/**
 * The conformance suite: one set of tests, run against the real sidecar on each runtime (Node, Bun,
 * Deno) over real sockets, with a real `node:http` app behind it (../support/upstream.ts). Each
 * runtime's file calls addConformanceTests once; test names state the behaviour,
 * and each file names the section of docs/behaviour.md it holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../support/sidecar.ts';
import { accessControlTests } from './access-control.ts';
import { compressionTests } from './compression.ts';
import { configurationTests } from './configuration.ts';
import { Conformance } from './context.ts';
import { edgeLimitTests } from './edge-limits.ts';
import { failureTests } from './failures.ts';
import { framingTests } from './framing.ts';
import { headerTests } from './headers.ts';
import { hostileTests } from './hostile.ts';
import { loggingTests } from './logging.ts';
import { refusalTests } from './refusals.ts';
import { routingTests } from './routing.ts';
import { streamingTests } from './streaming.ts';
import { webSocketFrameTests } from './websocket-frames.ts';
import { webSocketLimitTests } from './websocket-limits.ts';
import { webSocketMessageTests } from './websocket-messages.ts';
import { webSocketTests } from './websocket.ts';
import { socketIoTests } from './socket-io.ts';
import { tracingConfigurationTests } from './tracing-config.ts';
import { tracingTests } from './tracing.ts';

export function addConformanceTests(runtime: Runtime): void {
  describe(`the sidecar on ${runtime}`, () => {
    const t = new Conformance(runtime);
    beforeAll(() => t.setup());
    afterAll(() => t.teardown());

    configurationTests(t);
    routingTests(t);
    streamingTests(t);
    framingTests(t);
    headerTests(t);
    failureTests(t);
    hostileTests(t);
    loggingTests(t);
    webSocketTests(t);
    webSocketMessageTests(t);
    webSocketFrameTests(t);
    webSocketLimitTests(t);
    socketIoTests(t);
    refusalTests(t);
    tracingTests(t);
    tracingConfigurationTests(t);
    compressionTests(t);
    accessControlTests(t);
    edgeLimitTests(t);

    it('never contacted any host but TARGET during the whole suite', () => {
      expect(t.canary.requests).toEqual([]);
      expect(t.canary.connections()).toBe(0);
    });
  });
}
