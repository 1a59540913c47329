import { addTlsTests } from './suite.ts';

addTlsTests('deno');
