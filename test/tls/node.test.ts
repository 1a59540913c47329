import { addTlsProxyingTests } from './proxying.ts';
import { addH2Tests } from './h2.ts';
import { addH2IdleTests } from './h2-idle.ts';
import { addSwapLoadTest } from './swap-load.ts';
import { addTlsStartupTests } from './startup.ts';
import { addTlsTests } from './suite.ts';

addTlsTests('node');
addTlsStartupTests('node');
addH2Tests('node');
addH2IdleTests('node');
addSwapLoadTest('node');
addTlsProxyingTests('node');
