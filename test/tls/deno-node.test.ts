import { addH2Tests } from './h2.ts';
import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('deno-node');
addTlsStartupTests('deno-node');
addH2Tests('deno-node');
addSwapLoadTest('deno-node');
