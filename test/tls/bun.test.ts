import { addSwapLoadTest } from './swap-load.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('bun');
addSwapLoadTest('bun');
