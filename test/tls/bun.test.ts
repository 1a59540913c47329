import { addTlsTests } from './suite.ts';

addTlsTests('bun');
