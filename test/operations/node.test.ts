import { addOperationsTests } from './suite.ts';

addOperationsTests('node');
