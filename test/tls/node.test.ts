import { addTlsTests } from './suite.ts';

addTlsTests('node');
