import { addSwapLoadTest } from './swap-load.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('deno');
addSwapLoadTest('deno');
