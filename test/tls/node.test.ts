import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('node');
addTlsStartupTests('node');
addSwapLoadTest('node');
