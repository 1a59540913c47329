import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('bun');
addTlsStartupTests('bun');
addSwapLoadTest('bun');
