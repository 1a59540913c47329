import { addH2Tests } from './h2.ts';
import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('deno-native');
addTlsStartupTests('deno-native');
addH2Tests('deno-native');
addSwapLoadTest('deno-native');
