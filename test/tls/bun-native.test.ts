import { addH2Tests } from './h2.ts';
import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('bun-native');
addTlsStartupTests('bun-native');
addH2Tests('bun-native');
addSwapLoadTest('bun-native');
