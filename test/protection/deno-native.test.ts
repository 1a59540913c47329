import { addProtectionTests } from './suite.ts';
import { addTunnelProtectionTests } from './tunnels.ts';

addProtectionTests('deno-native');
addTunnelProtectionTests('deno-native');
