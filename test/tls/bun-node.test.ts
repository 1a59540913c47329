import { addH2Tests } from './h2.ts';
import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('bun-node');
addTlsStartupTests('bun-node');
addH2Tests('bun-node');
addSwapLoadTest('bun-node');
