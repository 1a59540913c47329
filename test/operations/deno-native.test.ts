import { addOperationsTests } from './suite.ts';

addOperationsTests('deno-native');
