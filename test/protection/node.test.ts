import { addProtectionTests } from './suite.ts';
import { addTunnelProtectionTests } from './tunnels.ts';

addProtectionTests('node');
addTunnelProtectionTests('node');
