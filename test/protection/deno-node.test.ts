import { addProtectionTests } from './suite.ts';
import { addTunnelProtectionTests } from './tunnels.ts';

addProtectionTests('deno-node');
addTunnelProtectionTests('deno-node');
