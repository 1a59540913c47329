import { addProtectionTests } from './suite.ts';
import { addTunnelProtectionTests } from './tunnels.ts';

addProtectionTests('bun-native');
addTunnelProtectionTests('bun-native');
