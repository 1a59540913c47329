import { addProtectionTests } from './suite.ts';
import { addTunnelProtectionTests } from './tunnels.ts';

addProtectionTests('bun-node');
addTunnelProtectionTests('bun-node');
