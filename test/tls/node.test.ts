import { addSwapLoadTest } from './swap-load.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('node');
addSwapLoadTest('node');
